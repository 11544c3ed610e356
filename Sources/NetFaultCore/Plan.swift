import FoundationEssentials
import Glibc

/// The traffic-control handles, priorities and device names that mark an object as netfault's own.
/// Everything the tool creates carries one of these, so it can be found without the journal.
public enum Ownership {
    /// Major handle of the root prio qdisc netfault puts on a device ("nf").
    public static let rootMajor: UInt16 = 0x6e66
    /// prio has at most 16 bands; band 1 carries all unmatched traffic, 2...16 carry one lease each.
    public static let bands: UInt16 = 16
    public static let leaseBands: ClosedRange<UInt16> = 2...16
    /// Major handle of the netem qdisc under a band.
    public static func netemMajor(band: UInt16) -> UInt16 { 0x6e00 + band }
    /// Filter priority of a band's filters; IPv4 and IPv6 need their own (the kernel keys a
    /// filter chain by priority and protocol together).
    public static func filterPriority(band: UInt16, family: IPAddress.Family) -> UInt16 {
        0x6e00 + band * 2 + (family == .ipv6 ? 1 : 0)
    }
    /// Priorities used by filters on an ingress qdisc that redirect to the ifb device.
    public static func redirectPriority(band: UInt16, family: IPAddress.Family) -> UInt16 {
        filterPriority(band: band, family: family)
    }
    public static let ingressMajor: UInt16 = 0xffff
    /// The ifb device that carries a device's incoming traffic, named by the device's index.
    public static func ifbName(forIndex index: Int32) -> String { "nfifb\(index)" }
    public static let ifbPrefix = "nfifb"
    public static func isOwnBand(netemMajor major: UInt16) -> Bool {
        major >= netemMajor(band: leaseBands.lowerBound) && major <= netemMajor(band: leaseBands.upperBound)
    }
}

/// One u32 match: a TCP port on one side, optionally with an address block on the same side.
public struct PortMatch: Hashable, Codable, Sendable, CustomStringConvertible {
    public enum Side: String, Codable, Sendable { case destination, source }
    public let family: IPAddress.Family
    public let side: Side
    public let port: UInt16
    /// The server's address (`--host`) or one of the `--peer` blocks. Journal entries written
    /// with a bare address decode as a full-length prefix.
    public let address: IPPrefix?

    public init(family: IPAddress.Family, side: Side, port: UInt16, address: IPPrefix? = nil) {
        self.family = family; self.side = side; self.port = port; self.address = address
    }

    public init(family: IPAddress.Family, side: Side, port: UInt16, host: IPAddress?) {
        self.init(family: family, side: side, port: port, address: host.map { IPPrefix(host: $0) })
    }

    public var description: String {
        let s = side == .destination ? "dst" : "src"
        return "\(family.rawValue) tcp \(s) port \(port)" + (address.map { " \(s) \($0)" } ?? "")
    }

    /// The matches a target and direction need: one per address block (the host, or each
    /// peer) and port. An address fixes the family; without one both families match.
    public static func matches(
        for target: Target, peers: [IPPrefix] = [], direction: Direction
    ) -> (toServer: [PortMatch], fromServer: [PortMatch]) {
        let blocks = target.addressBlocks(peers: peers)
        func build(_ side: Side) -> [PortMatch] {
            if blocks.isEmpty {
                return IPAddress.Family.allCases.flatMap { fam in
                    target.ports.map { PortMatch(family: fam, side: side, port: $0) }
                }
            }
            return blocks.flatMap { b in
                target.ports.map { PortMatch(family: b.family, side: side, port: $0, address: b) }
            }
        }
        return (
            direction.matchesToServer ? build(.destination) : [],
            direction.matchesFromServer ? build(.source) : []
        )
    }
}

/// A netem qdisc on one band of netfault's root prio, and what steers packets to it.
public struct BandPlan: Hashable, Codable, Sendable {
    public let device: String
    public let band: UInt16
    public let netem: NetemSpec
    public let matches: [PortMatch]
    /// How the packets reach the band; nil in entries written before there was a choice (u32).
    public var steering: Steering?
    /// A band of --connect-delay or --slow-close: only that phase's packets are steered to it.
    public var phase: ConnectionPhase?
    public var families: [IPAddress.Family] { matches.families }
    public init(
        device: String, band: UInt16, netem: NetemSpec, matches: [PortMatch], steering: Steering = .u32,
        phase: ConnectionPhase? = nil
    ) {
        self.device = device; self.band = band; self.netem = netem; self.matches = matches; self.steering = steering
        self.phase = phase
    }

    public enum Steering: String, Codable, Sendable {
        /// u32 filters on netfault's prio: they last until someone removes them (the watchdog).
        case u32
        /// A rule in the lease's nf_tables table sets the packets' priority to the band's class,
        /// through the lease's set: the kernel stops it at the deadline.
        case nftables
    }

    public var steeredByNFTables: Bool { steering == .nftables }
}

/// Who ends a lease's faults at its deadline.
public enum Enforcement: String, Codable, Sendable {
    /// nf_tables expires the lease's set elements on its monotonic clock, and the lease's table
    /// goes with its watchdog: the faults end on time even if the watchdog is stopped or killed.
    case kernel
    /// Only the watchdog removes them (u32 filters, or incoming traffic that tc sees before
    /// netfilter); if it is killed or stopped, the next netfault command does.
    case watchdog
}

extension [PortMatch] {
    /// The address families present, in a fixed order (each needs its own filter priority).
    public var families: [IPAddress.Family] { IPAddress.Family.allCases.filter { f in contains { $0.family == f } } }
}

/// Incoming packets of `device` that match are redirected to the ifb device, where a band delays them.
public struct RedirectPlan: Hashable, Codable, Sendable {
    public let device: String
    public let ifb: String
    public let band: UInt16
    public let matches: [PortMatch]
    public var families: [IPAddress.Family] { matches.families }
}

/// Everything one lease installs.
public struct LeasePlan: Hashable, Codable, Sendable {
    public var bands: [BandPlan]
    public var redirects: [RedirectPlan]
    /// The lease's nf_tables table and rules; apply installs them and its watchdog holds the table.
    public var filter: FilterPlan?
    public init(bands: [BandPlan], redirects: [RedirectPlan], filter: FilterPlan? = nil) {
        self.bands = bands; self.redirects = redirects; self.filter = filter
    }
    /// Kernel when every fault is reached through the lease's nf_tables set.
    public var enforcement: Enforcement {
        bands.allSatisfy(\.steeredByNFTables) && redirects.isEmpty ? .kernel : .watchdog
    }
    /// The lease has traffic-control objects (bands or ifb redirects) to install and remove.
    public var hasTrafficControl: Bool { !bands.isEmpty || !redirects.isEmpty }
    /// Every device the lease touches, in the order they are set up.
    public var devices: [String] {
        var seen: [String] = []
        for d in bands.map(\.device) + redirects.map(\.device) where !seen.contains(d) { seen.append(d) }
        return seen
    }
}

/// What the kernel has on a device's root, as far as the planner needs to know.
public struct DeviceState: Hashable, Sendable {
    public enum Root: Hashable, Sendable {
        /// The kernel's own default (noqueue, pfifo_fast, fq_codel, mq with handle 0): replaceable.
        case kernelDefault(kind: String)
        /// netfault's root prio, with the bands already holding a lease.
        case ours(usedBands: Set<UInt16>)
        /// Something a user configured: never touched.
        case foreign(kind: String, handle: UInt32)
    }
    public let name: String
    public let root: Root
    /// Whether an ingress (or clsact) qdisc exists that netfault did not create.
    public let foreignIngress: Bool
    /// Bands that a live netfault has claimed but may not have installed yet (another
    /// container's, sharing this network namespace): never planned for.
    public var claimed: Set<UInt16>
    /// Whether the device exists (an ifb netfault makes may not yet).
    public var exists: Bool
    /// Whether it has an ingress qdisc (netfault's own, when `foreignIngress` is false).
    public var hasIngress: Bool
    public init(
        name: String, root: Root, foreignIngress: Bool = false, claimed: Set<UInt16> = [],
        exists: Bool = true, hasIngress: Bool = false
    ) {
        self.name = name; self.root = root; self.foreignIngress = foreignIngress; self.claimed = claimed
        self.exists = exists; self.hasIngress = hasIngress
    }

    public static let defaultRootKinds: Set<String> = ["noqueue", "pfifo_fast", "fq_codel", "mq"]
}

public enum Planner {
    /// Plans the kernel objects for one lease.
    /// - Parameters:
    ///   - device: the interface the target's traffic leaves through.
    ///   - isLoopback: on loopback both directions leave through the same device, so no ifb is needed.
    ///   - ifbState: the state of the ifb device, when incoming traffic must be shaped.
    ///   - server: a remote server's requests leave through the device and its responses arrive
    ///     (through the ifb); a local server's the other way round.
    ///   - steerWithNFTables: nf_tables works here, so the leaving packets are steered by the
    ///     lease's table (kernel-enforced) instead of u32 filters. Arriving packets reach tc
    ///     before netfilter, so their ifb band always has filters.
    public static func plan(
        target: Target, peers: [IPPrefix] = [], direction: Direction, netem: NetemSpec,
        device: DeviceState, isLoopback: Bool, deviceIndex: Int32,
        ifbState: DeviceState? = nil, server: ServerLocation = .remote, steerWithNFTables: Bool = false
    ) throws -> LeasePlan {
        let (toServer, fromServer) = PortMatch.matches(for: target, peers: peers, direction: direction)
        let (leaving, arriving) = server == .local ? (fromServer, toServer) : (toServer, fromServer)
        let outgoing = isLoopback ? toServer + fromServer : leaving
        let incoming = isLoopback ? [] : arriving
        var bands: [BandPlan] = []
        var redirects: [RedirectPlan] = []
        let plain = netem.withoutPhases
        if !outgoing.isEmpty && !plain.isEmpty {
            bands.append(
                BandPlan(
                    device: device.name, band: try freeBand(device), netem: plain, matches: outgoing,
                    steering: steerWithNFTables ? .nftables : .u32))
        }
        if !incoming.isEmpty && !plain.isEmpty {
            if device.foreignIngress {
                throw PlanConflict(
                    """
                    \(device.name) has an ingress qdisc that netfault did not create; faults on arriving packets \
                    (from-server for a remote server, to-server for a local one) need their own. Remove it, or choose \
                    --direction
                    """
                )
            }
            let ifbName = Ownership.ifbName(forIndex: deviceIndex)
            let ifb = ifbState ?? DeviceState(name: ifbName, root: .kernelDefault(kind: "noqueue"))
            let band = try freeBand(ifb)
            bands.append(BandPlan(device: ifbName, band: band, netem: plain, matches: incoming))
            redirects.append(RedirectPlan(device: device.name, ifb: ifbName, band: band, matches: incoming))
        }
        bands += try phaseBands(
            netem, leaving: outgoing, target: target, peers: peers, device: device, server: server,
            steerWithNFTables: steerWithNFTables, taken: bands)
        return LeasePlan(bands: bands, redirects: redirects)
    }

    static func freeBand(_ device: DeviceState) throws -> UInt16 {
        switch device.root {
        case .kernelDefault, .ours:
            var used = device.claimed
            if case .ours(let installed) = device.root { used.formUnion(installed) }
            guard let band = Ownership.leaseBands.first(where: { !used.contains($0) }) else {
                throw PlanConflict(
                    """
                    \(device.name) already carries \(Ownership.leaseBands.count) netfault leases, the most one device \
                    holds; revert one first (netfault status)
                    """
                )
            }
            return band
        case .foreign(let kind, let handle):
            throw PlanConflict(
                """
                \(device.name) has a root qdisc '\(kind)' (handle \(String(handle >> 16, radix: 16)):) that netfault \
                did not create; netfault will not replace it. Remove it yourself (tc qdisc del dev \(device.name) \
                root) or choose another --iface
                """
            )
        }
    }
}
