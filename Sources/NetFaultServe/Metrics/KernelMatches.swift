import NetFaultCore
import NetFaultKernel

/// Which counters of a proxy's leases belong to which toxic. A lease holds one direction's
/// faults of all the proxy's toxics: a toxic's count is that of the rules of the leases its
/// fault would have alone (KernelMapping decides it, as for the lease itself), steering rules
/// for netem toxics, drop and reset rules for the others. Toxics whose faults share a rule
/// (two latencies of one stream, a hang beside a reset) share its count.
enum KernelMatches {
    /// `rules`: the rules of each direction's lease, with their counters.
    static func count(toxics: [Toxic], expired: Set<String>, rules: [Direction: [InstalledRule]]) -> [ToxicMatch] {
        toxics.map { t in
            var m = ToxicMatch(toxic: t.name, type: t.type, stream: t.stream)
            for (d, faults) in KernelMapping.faults(enabled: true, toxics: [t], expired: expired) {
                for r in rules[d] ?? [] where r.steers ? !faults.netem.isEmpty : !faults.filter.isEmpty {
                    m.packets &+= r.packets
                    m.bytes &+= r.bytes
                }
            }
            return m
        }
    }
}
