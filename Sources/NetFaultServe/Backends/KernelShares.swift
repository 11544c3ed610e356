import FoundationEssentials
import NetFaultCore

/// Toxiproxy's `toxicity` in the kernel: a toxic below 1 takes that share of new connections,
/// drawn once at each connection's SYN (netfault's --connections), and leaves the rest alone.
extension KernelMapping {
    /// One toxic behind a direction's lease, with its toxicity.
    struct Lot: Hashable, Sendable {
        /// The connection fault it asks for; nil: a netem toxic (latency, bandwidth).
        let action: FilterSpec.Action?
        let toxicity: Double
        /// Empty: the proxy's own state (a disabled proxy resets every connection).
        let toxic: String
        var isNetem: Bool { action == nil }
    }

    /// A toxicity as the kernel draws it: in parts per million of connections.
    static func percent(_ toxicity: Double) -> Percent { Percent((toxicity * 1_000_000).rounded() / 10_000) }

    /// The share of new connections the lease's faults take. Toxiproxy draws each toxic on its
    /// own, so a connection meets a fault when any of its toxics drew it: 1 - (1 - t1)(1 - t2)...
    /// The kernel draws once per lease, so netem toxics below 1 join that union: the delayed and
    /// the faulted connections are the same. nil: every one.
    static func share(_ lots: [Lot], action: FilterSpec.Action?) -> ConnectionShare? {
        let faults = action.map { a in lots.filter { $0.action == a } } ?? []
        let netem = lots.filter(\.isNetem)
        // Netem at toxicity 1 takes every connection beside a drawn fault: checkShares refuses it.
        let mine = (netem.contains { $0.toxicity < 1 } ? netem : []) + faults
        guard !mine.isEmpty, mine.allSatisfy({ $0.toxicity < 1 }) else { return nil }
        return .percent(percent(1 - mine.reduce(1.0) { $0 * (1 - $1.toxicity) }))
    }

    /// Each direction's share of connections (or mix) from its lots.
    static func draw(_ lots: [Direction: [Lot]], into out: inout [Direction: Faults]) {
        for (d, l) in lots {
            let action = out[d]?.filter.action
            out[d]?.lots = l
            out[d]?.filter.connections = share(l, action: action)
            if let mix = mix(l, action: action) { out[d]?.filter = FilterSpec(mix: mix) }
            if leavesNoNetem(l, out[d]?.filter) { out[d]?.netem = NetemSpec() }
        }
    }

    /// How the kernel draws a toxicity below 1, for the toxic's JSON.
    static func toxicityNotes(_ toxic: Toxic) -> [String] {
        guard toxic.toxicity > 0 && toxic.toxicity < 1 else { return [] }
        var notes = [
            """
            toxicity \(toxic.toxicity): each new connection is drawn once, at its SYN, and keeps its lot; \
            connections open before the toxic are left alone, where Toxiproxy draws them too
            """
        ]
        if toxic.type == .latency || toxic.type == .bandwidth {
            notes.append(
                """
                one draw per stream: beside other toxics below toxicity 1 on the same stream, a drawn connection \
                meets all of them and the rest none (1-(1-t1)(1-t2)... of new connections), where Toxiproxy \
                draws each toxic on its own
                """)
        }
        return notes
    }

    /// Netem toxics all below 1 beside a connection fault on every connection (a disabled proxy,
    /// a timeout at toxicity 1): nothing passes that netem would delay, so it is left out.
    static func leavesNoNetem(_ lots: [Lot], _ filter: FilterSpec?) -> Bool {
        let netem = lots.filter(\.isNetem)
        guard let filter, filter.action != nil, filter.connections == nil, filter.mix == nil else { return false }
        return !netem.isEmpty && netem.allSatisfy { $0.toxicity < 1 }
    }

    /// A drawn reset beside a hang on the same packets: Toxiproxy draws each toxic apart and a
    /// reset outranks a hang, so a mix: the reset's share, then the hang's share of the rest.
    /// nil: one fault (or the reset takes every connection).
    static func mix(_ lots: [Lot], action: FilterSpec.Action?) -> ConnectionMix? {
        guard action == .reset, let reset = share(lots, action: .reset), case .percent(let r) = reset,
            lots.contains(where: { $0.action == .hang })
        else { return nil }
        let hang = share(lots, action: .hang).flatMap { s -> Double? in
            if case .percent(let p) = s { p.fraction } else { nil }
        } ?? 1
        var groups = [ConnectionMix.Group(share: r, action: .reset)]
        let rest = percent((1 - r.fraction) * hang)
        if ConnectionShare.percent(rest).threshold ?? 0 > 0 { groups.append(.init(share: rest, action: .hang)) }
        return ConnectionMix(groups: groups)
    }

    /// Refuses shares one lease cannot hold: it draws once per connection, so a stream's toxics
    /// are all drawn (below 1) or all take every connection. `loopback`: the upstream is on this
    /// host, where a response passes netfilter before netem; a remote one's responses reach
    /// netem through ifb, before netfilter can tell which connection they are on.
    static func checkShares(_ faults: [Direction: Faults], loopback: Bool = true) throws(ServeFailure) {
        for (d, f) in faults.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let netem = f.lots.filter(\.isNetem)
            let drawnNetem = netem.first { $0.toxicity < 1 }
            if let drawn = drawnNetem, let whole = netem.first(where: { $0.toxicity >= 1 }) {
                throw .partialToxicity(
                    toxic: drawn.toxic, toxicity: drawn.toxicity,
                    why: "toxic '\(whole.toxic)' (netem, toxicity 1) takes every connection of the stream"
                        + Self.oneDraw)
            }
            if let drawn = drawnNetem, f.filter.mix != nil {
                throw .partialToxicity(
                    toxic: drawn.toxic, toxicity: drawn.toxicity,
                    why: "a drawn reset_peer beside a timeout on the same stream already splits the connections")
            }
            if let drawn = drawnNetem, !f.netem.isEmpty, d == .fromServer, !loopback {
                throw .partialToxicity(toxic: drawn.toxic, toxicity: drawn.toxicity, why: Self.remoteResponses)
            }
            guard f.filter.connections != nil || f.filter.mix != nil, drawnNetem == nil, !netem.isEmpty,
                let drawn = f.lots.first(where: { $0.toxicity < 1 })
            else { continue }
            throw .partialToxicity(
                toxic: drawn.toxic, toxicity: drawn.toxicity,
                why: "a latency or bandwidth toxic (netem) at toxicity 1 on the same stream takes every connection"
                    + Self.oneDraw)
        }
    }

    static let oneDraw = ", and the kernel draws once per connection for all of a stream's toxics"

    static let remoteResponses = """
        a downstream latency or bandwidth toxic on a remote upstream is shaped as the responses arrive (on ifb), \
        before netfilter can tell which connection they are on; a share works for upstream toxics, or with a \
        loopback upstream (127.0.0.1, ::1, localhost)
        """
}
