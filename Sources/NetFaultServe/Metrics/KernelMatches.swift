import NetFaultCore
import NetFaultKernel

/// Which counters of a proxy's leases belong to which toxic. A lease holds one direction's
/// faults of all the proxy's toxics: a toxic's count is that of the leases its fault would have
/// alone (KernelMapping decides it, as for the lease itself), the rules that steer into netem
/// (or, without nf_tables, the netem qdiscs) for netem toxics, the drop and reset rules for the
/// others. Toxics whose faults share a rule (two latencies of one stream, a hang beside a
/// reset) share its count.
enum KernelMatches {
    /// One counter of a lease: an nf_tables rule, or a watched lease's netem qdiscs together.
    struct Counted: Equatable {
        var packets: UInt64
        /// nil: the counter has no bytes (a netem qdisc's packets as netfault reads them).
        var bytes: UInt64?
        /// Counts netem's packets (a steering rule, or the qdiscs), not drops or resets.
        var netem: Bool

        init(packets: UInt64, bytes: UInt64?, netem: Bool) {
            self.packets = packets; self.bytes = bytes; self.netem = netem
        }
        init(_ rule: InstalledRule) { self.init(packets: rule.packets, bytes: rule.bytes, netem: rule.steers) }
    }

    /// `counts`: the counters of each direction's lease.
    static func count(toxics: [Toxic], counts: [Direction: [Counted]]) -> [ToxicMatch] {
        toxics.map { t in
            var m = ToxicMatch(toxic: t.name, type: t.type, stream: t.stream, packets: 0, bytes: 0)
            for (d, faults) in KernelMapping.faults(enabled: true, toxics: [t]) {
                for c in counts[d] ?? [] where c.netem ? !faults.netem.isEmpty : !faults.filter.isEmpty {
                    m.packets &+= c.packets
                    m.bytes = m.bytes.flatMap { sum in c.bytes.map { sum &+ $0 } }
                }
            }
            return m
        }
    }
}
