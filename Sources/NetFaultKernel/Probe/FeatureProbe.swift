import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// One row of `netfault doctor`: a kernel feature netfault uses (see `kernelFeature`) or another
/// fact about this machine, whether it works here, and what to do if not.
public struct FeatureResult: Codable, Sendable, Equatable {
    public let feature: String
    public let ok: Bool
    public let detail: String
    public let remedy: String?

    public init(feature: String, ok: Bool, detail: String, remedy: String?) {
        self.feature = feature; self.ok = ok; self.detail = detail; self.remedy = remedy
    }
}

/// Probes kernel features by using them, in this process's own network namespace, with no
/// lasting change and no traffic touched: qdiscs and filters go on scratch devices of the
/// probe's own (down, so no packet crosses them), nf_tables rules into a dormant table (whose
/// chains are not hooked in) that the probe's socket owns. So it needs nothing beyond what the
/// faults need: CAP_NET_ADMIN, no new namespace (unshare needs CAP_SYS_ADMIN, and Docker's
/// default seccomp profile refuses it).
public enum FeatureProbe {
    /// Scratch devices are named with this and this process's id; the next command removes any
    /// that a killed probe left (its claim died with it).
    public static let devicePrefix = "nfprobe"

    /// The features by the names `netfault doctor` prints, for the callers that compare them
    /// with `FeatureResult.feature` (`netfault doctor`'s deadline note); KernelFeature.filterFaults typed.
    public static let filterFeatures = KernelFeature.filterFaults.map(\.rawValue)

    /// Probes `only` those features (all when nil): apply needs three, doctor all of them.
    public static func run(only: Set<KernelFeature>? = nil) -> [FeatureResult] {
        var results: [FeatureResult] = []
        let wanted = { (f: KernelFeature) in only?.contains(f) ?? true }
        func record(_ feature: KernelFeature, _ body: () throws -> Void) {
            guard wanted(feature) else { return }
            do {
                try body()
                results.append(FeatureResult(feature, ok: true, detail: "works", remedy: nil))
            } catch {
                results.append(FeatureResult(feature, ok: false, detail: "\(error)", remedy: feature.remedy))
            }
        }
        // Claims need it: the probe's scratch devices are claimed, and so is every netem band.
        record(.unixDiag) { _ = try UnixDiag.listeners(in: nil) }
        let tcFeatures = KernelFeature.trafficControl
        if tcFeatures.contains(where: wanted) {
            do {
                let nl = try NetlinkSocket()
                let scratch = try ScratchDevices(nl)
                defer { scratch.remove() }
                probeTrafficControl(nl, scratch, record: record)
            } catch {
                let cause = (error as? FeatureMissing)?.feature ?? .scratchDevice
                for f in tcFeatures where wanted(f) {
                    results.append(FeatureResult(f, ok: false, detail: "\(error)", remedy: cause.remedy))
                }
            }
        }
        let nftFeatures =
            KernelFeature.filterFaults + KernelFeature.connectionDraws + KernelFeature.connectionLife
            + KernelFeature.mssClamp + KernelFeature.socketScope
        if nftFeatures.contains(where: wanted) {
            probeNFTables(record: record)
        }
        return results
    }

    static func probeTrafficControl(
        _ nl: NetlinkSocket, _ scratch: ScratchDevices,
        record: (KernelFeature, () throws -> Void) -> Void
    ) {
        let i = scratch.first.index
        record(.netem) {
            try nl.perform(rootQdisc(i, "netem") {
                TCRequests.netemOptions(&$0, spec: NetemSpec(delay: .milliseconds(1)), distributionTable: nil)
            }, "adding a netem qdisc")
            try nl.perform(TCRequests.deleteRoot(ifindex: i), "removing a netem qdisc")
        }
        record(.prio) {
            try nl.perform(TCRequests.addRootPrio(ifindex: i), "adding a prio qdisc")
            try nl.perform(TCRequests.deleteRoot(ifindex: i), "removing a prio qdisc")
        }
        record(.htb) {
            try nl.perform(rootQdisc(i, "htb") { o in
                o.attr(TCA_HTB_INIT) { g in
                    g.u32(3); g.u32(10); g.u32(0); g.u32(0); g.u32(0)
                }  // version, r2q, defcls
            }, "adding an htb qdisc")
            try nl.perform(TCRequests.deleteRoot(ifindex: i), "removing an htb qdisc")
        }
        record(.u32) {
            try nl.perform(TCRequests.addIngress(ifindex: i), "adding an ingress qdisc")
            defer { try? nl.perform(TCRequests.deleteIngress(ifindex: i), "cleanup") }
            var w = ByteWriter()
            TCRequests.tcmsg(
                &w, ifindex: i, handle: 0, parent: TCRequests.handle(Ownership.ingressMajor),
                info: TCRequests.filterInfo(priority: 1, family: .ipv4))
            w.attr(TCA_KIND) { $0.cString("u32") }
            w.attr(TCA_OPTIONS) {
                let match = PortMatch(family: .ipv4, side: .destination, port: 9)
                $0.attr(TCA_U32_SEL) { TCRequests.selector(match).encode(into: &$0) }
            }
            try nl.perform(
                NetlinkRequest(type: UInt16(RTM_NEWTFILTER), flags: TCRequests.create, payload: w.bytes),
                "adding a u32 filter")
        }
        record(.ifbMirred) {
            guard let ifb = scratch.second else {
                throw scratch.noSecondIfb ?? KernelError(operation: "creating an ifb device", errno: EOPNOTSUPP)
            }
            try nl.perform(TCRequests.addIngress(ifindex: i), "adding an ingress qdisc")
            defer { try? nl.perform(TCRequests.deleteIngress(ifindex: i), "cleanup") }
            try nl.perform(
                TCRequests.addRedirectFilter(
                    ifindex: i, band: 2, match: PortMatch(family: .ipv4, side: .source, port: 9), ifbIndex: ifb.index),
                "adding a mirred redirect")
        }
    }

    /// A root qdisc of `kind` on device `i` with the options `options` writes.
    static func rootQdisc(_ i: Int32, _ kind: String, _ options: (inout ByteWriter) -> Void) -> NetlinkRequest {
        var w = ByteWriter()
        TCRequests.tcmsg(&w, ifindex: i, handle: TCRequests.handle(Ownership.rootMajor), parent: TC_H_ROOT)
        w.attr(TCA_KIND) { $0.cString(kind) }
        w.attr(TCA_OPTIONS, options)
        return NetlinkRequest(type: UInt16(RTM_NEWQDISC), flags: TCRequests.create, payload: w.bytes)
    }

    static func probeNFTables(record: (KernelFeature, () throws -> Void) -> Void) {
        let nft = Result { try NetlinkSocket(netlinkProtocol: NETLINK_NETFILTER) }
        // Random names: probes of two containers that share a namespace must not collide.
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        var ownerFlag = true
        record(.nfTablesInet) {
            let s = try nft.get()
            let name = "netfault_probe_\(suffix)"
            do {
                try s.batch(
                    { try NFTablesRequests.tableBatch(name: name, owner: true, dormant: true, seq: $0) },
                    "creating an inet table")
            } catch let e as KernelError where e.errno == EOPNOTSUPP || e.errno == EINVAL {
                // A kernel before 5.12 refuses the owner flag; the family itself may still work.
                ownerFlag = false
                try s.batch(
                    { try NFTablesRequests.tableBatch(name: name, owner: false, dormant: true, seq: $0) },
                    "creating an inet table")
            }
            try s.batch({ try NFTablesRequests.deleteBatch(table: name, seq: $0) }, "deleting an inet table")
        }
        record(.nfTablesOwnerTables) {
            let s = try nft.get()
            guard ownerFlag else { throw KernelError(operation: "creating an owner table", errno: EOPNOTSUPP) }
            let name = "netfault_probe_owner_\(suffix)"
            try s.batch(
                { try NFTablesRequests.tableBatch(name: name, owner: true, dormant: true, seq: $0) },
                "creating an owner table")
            try s.batch({ try NFTablesRequests.deleteBatch(table: name, seq: $0) }, "deleting an owner table")
        }
        record(.nfTablesRules) {
            let s = try nft.get()
            let plan = FilterPlan(table: "netfault_probe_rules_\(suffix)", ports: [9], rules: rulesProbe)
            try NFTables(socket: s).install(plan, timeout: .seconds(1), dormant: true)
            try s.batch({ try NFTablesRequests.deleteBatch(table: plan.table, seq: $0) }, "deleting the probe's table")
        }
        record(.nfTablesConnectionDraws) { try probeConnectionDraws(try nft.get(), suffix: suffix) }
        record(.nfTablesConnectionLife) { try probeConnectionLife(try nft.get(), suffix: suffix) }
        record(.nfTablesMSSClamp) {
            try probeConnectionLife(try nft.get(), suffix: suffix, ConnectionLife(slice: 100), name: "mss")
        }
        record(.nfTablesSocketScope) { try probeSocketScope(try nft.get(), suffix: suffix) }
    }

    /// One rule of every kind the connection faults and the steering of netem bands use, IPv4
    /// and IPv6, in both chains, through a set with a timeout.
    static let rulesProbe: [FilterRule] = {
        let target = Target(ports: [9])
        let peers = [
            IPPrefix(address: IPAddress(bytes: [10, 64, 0, 0]), length: 10),
            IPPrefix(host: IPAddress(bytes: Array(repeating: 0, count: 15) + [1]))
        ]
        let specs = [
            FilterSpec(action: .reject, loss: Percent(5)), FilterSpec(action: .reset), FilterSpec(action: .hang)
        ]
        let steer = FilterRule.steer(device: "lo", band: 2, side: .destination, peer: peers[0], comment: "probe")
        return specs.flatMap {
            FilterPlanner.plan(leaseID: "probe", target: target, peers: peers, direction: .both, spec: $0)?.rules ?? []
        } + [steer]
    }()
}

/// A kernel feature turned out missing when it was used (a module unloaded since the probe, or
/// a cached result from before): the same message the probe would give.
public struct FeatureMissing: NetfaultError, Sendable {
    public let feature: KernelFeature
    public let underlying: KernelError
    public init(feature: KernelFeature, underlying: KernelError) {
        self.feature = feature; self.underlying = underlying
    }
    public var description: String {
        "this kernel lacks what these faults need:\n  \(feature.rawValue): \(feature.remedy) (\(underlying))"
    }
    public var exitStatus: Int32 { ExitStatus.unavailable }

    /// Runs `body`, turning the kernel's "unknown kind" answer into FeatureMissing.
    static func check(_ feature: KernelFeature, _ body: () throws -> Void) throws {
        do { try body() } catch let e as KernelError
            where e.errno == EOPNOTSUPP
            || (e.errno == ENOENT && (e.extendedAck ?? "kind is unknown").contains("kind is unknown"))
        {
            throw FeatureMissing(feature: feature, underlying: e)
        }
    }
}

/// The probe's own devices, left down: an ifb (or a dummy where the kernel has no ifb) to put
/// qdiscs on, and a second ifb as a redirect's target.
final class ScratchDevices {
    let nl: NetlinkSocket
    let first: LinkInfo
    let second: LinkInfo?
    /// Why there is no second ifb device.
    let noSecondIfb: Error?
    /// Held while the devices exist: the sweep of a netfault sharing this namespace removes
    /// only scratch devices whose probe is gone.
    let claims: [Claim]

    init(_ nl: NetlinkSocket) throws {
        self.nl = nl
        let base = "\(FeatureProbe.devicePrefix)\(getpid())"
        claims = try Claims.take([Claims.probe(device: base + "a"), Claims.probe(device: base + "b")], in: nil)
        func make(_ name: String, _ kind: String) throws -> LinkInfo {
            try nl.perform(TCRequests.addLink(name: name, kind: kind), "creating a scratch \(kind) device")
            guard let l = try nl.link(named: name) else {
                throw KernelError(operation: "finding scratch device \(name)", errno: ENODEV)
            }
            return l
        }
        var ifbError: Error?
        do {
            first = try make(base + "a", "ifb")
        } catch {
            ifbError = error
            first = try make(base + "a", "dummy")
        }
        if let ifbError {
            second = nil; noSecondIfb = ifbError
        } else {
            do { second = try make(base + "b", "ifb"); noSecondIfb = nil } catch { second = nil; noSecondIfb = error }
        }
    }

    func remove() {
        for l in [first, second].compactMap({ $0 }) {
            try? nl.perform(TCRequests.deleteLink(index: l.index), "removing scratch device \(l.name)")
        }
    }
}
