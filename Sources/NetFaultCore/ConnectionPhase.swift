import FoundationEssentials
import Glibc

/// A moment of a connection's life that netem can hold back alone: its handshake
/// (`--connect-delay`) or its close (`--slow-close`). Each gets a netem band of its own, which an
/// nf_tables rule fills with only that moment's packets, matched by their TCP flags; u32 cannot
/// steer by flags, so without nf_tables there is no such band.
public enum ConnectionPhase: String, Codable, Sendable, CaseIterable {
    /// The one handshake packet that leaves this host: the client's SYN to a remote server, or a
    /// local server's SYN-ACK. connect() takes the delay longer, once; later round trips do not.
    case connect
    /// The FINs leaving this host in the lease's direction: the peer reads EOF the delay late,
    /// while the data before it comes on time (Toxiproxy's slow_close).
    case close

    public var option: String { self == .connect ? "--connect-delay" : "--slow-close" }

    /// The steering rule's flags for a match on `side` (to the server's port, or from it).
    public func flags(side: PortMatch.Side) -> FilterRule.Flags {
        switch self {
        case .connect: side == .destination ? .synOnly : .synAck
        case .close: .fin
        }
    }
}

extension NetemSpec {
    /// --connect-delay and --slow-close, as given.
    public var phases: [(phase: ConnectionPhase, delay: Duration)] {
        [(ConnectionPhase.connect, connectDelay), (.close, slowClose)].compactMap { p, d in d.map { (p, $0) } }
    }

    /// The faults every matched packet meets: everything but the phases.
    public var withoutPhases: NetemSpec {
        var s = self
        s.connectDelay = nil; s.slowClose = nil
        return s
    }

    /// The netem qdisc of a phase's band: the delay, in a queue sized for it (or as --limit says).
    public static func phaseBand(_ delay: Duration, limit: UInt32?) -> NetemSpec {
        NetemSpec(delay: delay, limit: limit)
    }

    func validatePhases() throws {
        for (phase, delay) in phases {
            guard delay.nanoseconds > 0 else {
                throw InputError("\(phase.option) 0s holds nothing back; give a delay above 0, e.g. 300ms")
            }
            guard delay <= Self.maximumDelay else {
                throw InputError(
                    """
                    \(phase.option) \(delay) is too long; the most is \(Self.maximumDelay) (a longer delay is a \
                    dead link, not a slow one)
                    """)
            }
        }
    }
}

extension Planner {
    /// The bands of `netem`'s phases, after the bands in `taken`, on the device the lease's
    /// leaving packets pass: a connect band takes the handshake packet that leaves (the SYN to a
    /// remote server, a local server's SYN-ACK) whatever the direction; a close band the FINs
    /// leaving in the lease's direction.
    static func phaseBands(
        _ netem: NetemSpec, leaving: [PortMatch], target: Target, peers: [IPPrefix], device: DeviceState,
        server: ServerLocation, steerWithNFTables: Bool, taken: [BandPlan]
    ) throws -> [BandPlan] {
        guard !netem.phases.isEmpty else { return [] }
        guard steerWithNFTables else {
            let options = netem.phases.map(\.phase.option).joined(separator: " and ")
            throw Unavailable(
                """
                \(options) need nf_tables to pick the handshake or FIN packets out for netem (u32 cannot match TCP \
                flags), and nf_tables does not work here (netfault doctor: nf_tables rules)
                """)
        }
        let all = PortMatch.matches(for: target, peers: peers, direction: .both)
        var state = device
        state.claimed.formUnion(taken.filter { $0.device == device.name }.map(\.band))
        var bands: [BandPlan] = []
        for (phase, delay) in netem.phases {
            let matches = phase == .connect ? (server == .local ? all.fromServer : all.toServer) : leaving
            guard !matches.isEmpty else {
                throw InputError(
                    """
                    --slow-close holds back the FINs leaving this host, and --direction \
                    \(server == .local ? "to-server" : "from-server") takes only arriving ones here (tc sees them \
                    before nf_tables can tell a FIN); give --direction \(server == .local ? "from-server" : "to-server")
                    """)
            }
            let band = try freeBand(state)
            state.claimed.insert(band)
            bands.append(
                BandPlan(
                    device: device.name, band: band, netem: .phaseBand(delay, limit: netem.limit), matches: matches,
                    steering: .nftables, phase: phase))
        }
        return bands
    }
}
