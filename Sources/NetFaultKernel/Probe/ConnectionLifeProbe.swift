import FoundationEssentials
import Glibc
import NetFaultCore

extension FeatureProbe {
    /// The connection-life sets and rules, both families and both ways: a timer's start and its
    /// reset, a byte budget that resets the client, in a dormant table (no packet sees them)
    /// that is deleted again.
    /// `life`: what to install (by default a timer and a budget; --slice's clamp apart).
    static func probeConnectionLife(
        _ s: NetlinkSocket, suffix: String,
        _ life: ConnectionLife = ConnectionLife(resetAfter: .seconds(1), limitData: 4096), name: String = "life"
    ) throws {
        let spec = FilterSpec(life: life)
        guard
            let p = FilterPlanner.plan(
                leaseID: "probe", target: Target(ports: [9]), peers: [], direction: .both, spec: spec)
        else { return }
        let plan = FilterPlan(table: "netfault_probe_\(name)_\(suffix)", ports: p.ports, rules: p.rules, life: p.life)
        try NFTables(socket: s).install(plan, timeout: .seconds(1), dormant: true)
        try s.batch({ try NFTablesRequests.deleteBatch(table: plan.table, seq: $0) }, "deleting the probe's table")
    }
}
