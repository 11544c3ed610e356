import FoundationEssentials
import NetFaultCore

/// Toxiproxy's `toxicity` in the kernel: a toxic below 1 takes that share of new connections,
/// drawn once at each connection's SYN (netfault's --connections), and leaves the rest alone.
extension KernelMapping {
    /// One connection toxic behind a direction's connection fault, with its toxicity.
    struct Lot: Hashable, Sendable {
        let action: FilterSpec.Action
        let toxicity: Double
        /// Empty: the proxy's own state (a disabled proxy resets every connection).
        let toxic: String
    }

    /// A toxicity as the kernel draws it: in parts per million of connections.
    static func percent(_ toxicity: Double) -> Percent { Percent((toxicity * 1_000_000).rounded() / 10_000) }

    /// The share of new connections that meets `action`. Toxiproxy draws each toxic on its own, so
    /// a connection meets it when any of its toxics drew it: 1 - (1 - t1)(1 - t2)...; nil: every one.
    static func share(_ lots: [Lot], action: FilterSpec.Action?) -> ConnectionShare? {
        let mine = lots.filter { $0.action == action }
        guard !mine.isEmpty, mine.allSatisfy({ $0.toxicity < 1 }) else { return nil }
        return .percent(percent(1 - mine.reduce(1.0) { $0 * (1 - $1.toxicity) }))
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

    /// Refuses a toxicity below 1 on a toxic netem carries out: netem delays and limits every
    /// packet to the upstream's port, and cannot tell one connection from another here.
    static func checkToxicity(_ toxic: Toxic) throws(ServeFailure) {
        guard toxic.toxicity > 0 && toxic.toxicity < 1 else { return }
        switch toxic.kind {
        case .latency(let l) where l.latency > .zero:
            throw .partialToxicity(toxic: toxic.name, toxicity: toxic.toxicity, why: "netem delays every connection")
        case .bandwidth(let b) where b.rate > 0:
            throw .partialToxicity(toxic: toxic.name, toxicity: toxic.toxicity, why: "netem limits every connection")
        default: break
        }
    }

    /// Refuses faults whose shares one lease cannot hold: a share beside netem faults on the
    /// same stream (netem takes every connection).
    static func checkShares(_ faults: [Direction: Faults]) throws(ServeFailure) {
        for (_, f) in faults.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        where f.filter.connections != nil || f.filter.mix != nil {
            guard let drawn = f.lots.first(where: { $0.toxicity < 1 }) else { continue }
            if !f.netem.isEmpty {
                throw .partialToxicity(
                    toxic: drawn.toxic, toxicity: drawn.toxicity,
                    why: "a latency or bandwidth toxic (netem) on the same stream takes every connection")
            }
        }
    }
}
