import FoundationEssentials
import Glibc

/// One change to traffic control, in the order the executor makes it. The executor turns each
/// step into its netlink request and decides nothing itself; `--dry-run` prints the same steps
/// as the `tc` and `ip` commands that make the same change (the commands the request fixtures
/// were captured from).
public enum TCStep: Hashable, Sendable {
    case createIfb(name: String)
    case linkUp(device: String)
    case addRootPrio(device: String)
    case addNetem(device: String, band: UInt16, netem: NetemSpec)
    case addBandFilter(device: String, band: UInt16, match: PortMatch)
    case addIngress(device: String)
    case addRedirect(device: String, band: UInt16, match: PortMatch, ifb: String)

    /// The device the step acts on.
    public var device: String {
        switch self {
        case .createIfb(let d), .linkUp(let d), .addRootPrio(let d), .addIngress(let d): d
        case .addNetem(let d, _, _), .addBandFilter(let d, _, _), .addRedirect(let d, _, _, _): d
        }
    }

    /// The equivalent command, as iproute2 spells it.
    public var command: String {
        let root = String(Ownership.rootMajor, radix: 16)
        switch self {
        case .createIfb(let name):
            return "ip link add \(name) type ifb"
        case .linkUp(let d):
            return "ip link set \(d) up"
        case .addRootPrio(let d):
            let priomap = Array(repeating: "0", count: Int(Ownership.bands)).joined(separator: " ")
            return "tc qdisc add dev \(d) root handle \(root): prio bands \(Ownership.bands) priomap \(priomap)"
        case .addNetem(let d, let band, let netem):
            let handle = String(Ownership.netemMajor(band: band), radix: 16)
            return
                """
                tc qdisc add dev \(d) parent \(root):\(String(band, radix: 16)) handle \(handle): netem \
                \(netem.tcArguments)
                """
        case .addBandFilter(let d, let band, let m):
            return
                """
                tc filter add dev \(d) parent \(root): \(Self.u32(m, band: band)) flowid \
                \(root):\(String(band, radix: 16))
                """
        case .addIngress(let d):
            return "tc qdisc add dev \(d) handle ffff: ingress"
        case .addRedirect(let d, let band, let m, let ifb):
            return
                """
                tc filter add dev \(d) parent ffff: \(Self.u32(m, band: band)) action mirred egress redirect dev \
                \(ifb)
                """
        }
    }

    /// "protocol ip prio P u32 match ..." for one port match.
    static func u32(_ m: PortMatch, band: UInt16) -> String {
        let v4 = m.family == .ipv4
        let ip = v4 ? "ip" : "ip6"
        let side = m.side == .destination ? "dst" : "src"
        let port = m.side == .destination ? "dport" : "sport"
        var s = "protocol \(v4 ? "ip" : "ipv6") prio \(Ownership.filterPriority(band: band, family: m.family)) u32"
        s += " match \(ip) protocol 6 0xff"
        if let a = m.address { s += " match \(ip) \(side) \(a.address)/\(a.length)" }
        return s + " match \(ip) \(port) \(m.port) 0xffff"
    }
}

extension NetemSpec {
    /// The netem options as `tc qdisc ... netem` takes them, in iproute2's order. The queue
    /// limit is named unless it is tc's own default, as netfault sends it either way.
    public var tcArguments: String {
        var s: [String] = effectiveLimit == Self.tcDefaultLimit ? [] : ["limit", "\(effectiveLimit)"]
        if let delay {
            s += ["delay", "\(delay)"]
            if let jitter { s.append("\(jitter)") }
            if let delayCorrelation { s.append("\(delayCorrelation)") }
            if let distribution { s += ["distribution", distribution.rawValue] }
        }
        if let loss { s += ["loss", "\(loss)"] + (lossCorrelation.map { ["\($0)"] } ?? []) }
        if let duplicate { s += ["duplicate", "\(duplicate)"] }
        if let corrupt { s += ["corrupt", "\(corrupt)"] }
        if let reorder { s += ["reorder", "\(reorder)"] + (gap.map { ["gap", "\($0)"] } ?? []) }
        if let rate { s += ["rate", "\(rate)"] }
        return s.joined(separator: " ")
    }
}

extension Planner {
    /// The steps that install `plan`, given the devices as the kernel holds them now (one
    /// snapshot, read before planning): a root, an ifb or an ingress qdisc is created only where
    /// it is missing. A change by someone else in between meets NLM_F_EXCL and fails.
    public static func steps(for plan: LeasePlan, devices: [String: DeviceState]) -> [TCStep] {
        var steps: [TCStep] = []
        var made: Set<String> = []  // roots, ifbs and ingresses these steps create
        for band in plan.bands {
            let state = devices[band.device]
            if band.device.hasPrefix(Ownership.ifbPrefix), !(state?.exists ?? false),
                made.insert("ifb " + band.device).inserted
            {
                steps += [.createIfb(name: band.device), .linkUp(device: band.device)]
            }
            if case .ours = state?.root {
            } else if made.insert("root " + band.device).inserted {
                steps.append(.addRootPrio(device: band.device))
            }
            steps.append(.addNetem(device: band.device, band: band.band, netem: band.netem))
            if !band.steeredByNFTables {
                steps += band.matches.map { .addBandFilter(device: band.device, band: band.band, match: $0) }
            }
        }
        for r in plan.redirects {
            if !(devices[r.device]?.hasIngress ?? false), made.insert("ingress " + r.device).inserted {
                steps.append(.addIngress(device: r.device))
            }
            steps += r.matches.map { .addRedirect(device: r.device, band: r.band, match: $0, ifb: r.ifb) }
        }
        return steps
    }
}

extension FilterPlan {
    /// The table as an `nft -f` script: what the watchdog installs in one batch. The owner flag
    /// ties the table to the process that makes it (the watchdog; `nft` itself would lose it
    /// when it exits).
    /// `timeout`: the lease's time left, which each set element carries.
    public func nftScript(timeout: Duration) -> String {
        let elements = ports.map { "\($0) timeout \(timeout)" }.joined(separator: ", ")
        var lines = [
            "table inet \(table) {", "\tflags owner",
            "\tset \(Ownership.leaseSet) {",
            "\t\ttype inet_service; flags timeout;",
            "\t\telements = { \(elements) }",
            "\t}"
        ]
        for family in share?.families ?? [] {
            let addr = family == .ipv4 ? "ipv4_addr" : "ipv6_addr"
            for group in share?.sets ?? [] {
                lines += [
                    "\tset \(Ownership.shareSet(group: group, family: family)) {",
                    "\t\ttype \(addr) . inet_service . \(addr) . inet_service; flags dynamic,timeout;",
                    "\t\tsize \(Ownership.shareSetSize); timeout \(timeout);",
                    "\t}"
                ]
            }
        }
        lines += life?.nftSets(lease: timeout) ?? []
        for hook in hooks {
            lines.append("\tchain \(hook.rawValue) {")
            lines.append("\t\ttype filter hook \(hook.rawValue) priority \(Ownership.chainPriority); policy accept;")
            lines += (share?.forgets ?? []).filter { $0.hook == hook }.map { "\t\t" + $0.nftSyntax }
            lines += (share?.rules ?? []).filter { $0.hook == hook }.map { "\t\t" + $0.nftSyntax }
            lines += (life?.starts ?? []).filter { $0.hook == hook }.map { "\t\t" + $0.nftSyntax }
            lines += (life?.slices ?? []).filter { $0.hook == hook }.map { "\t\t" + $0.nftSyntax }
            lines += LifePlan.ordered(
                faults: rules.filter { $0.hook == hook }.map { "\t\t" + $0.nftSyntax },
                ends: (life?.rules ?? []).filter { $0.hook == hook }.map { "\t\t" + $0.nftSyntax }, in: life)
            lines.append("\t}")
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }
}
