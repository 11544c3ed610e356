import FoundationEssentials
import Glibc
import NetFaultCore

extension FeatureProbe {
    /// --connections' sets and rules, both families, a random draw and a count, in a dormant
    /// table (no packet sees them) that is deleted again.
    static func probeConnectionDraws(_ s: NetlinkSocket, suffix: String) throws {
        let target = Target(ports: [9])
        var plans: [FilterPlan] = []
        for (share, name) in [(ConnectionShare.percent(Percent(30)), "r"), (.every(3), "e")] {
            let spec = FilterSpec(action: .reject, connections: share)
            guard let p = FilterPlanner.plan(leaseID: "probe", target: target, peers: [], direction: .both, spec: spec)
            else { continue }
            plans.append(
                FilterPlan(
                    table: "netfault_probe_draws_\(name)_\(suffix)", ports: p.ports, rules: p.rules, share: p.share))
        }
        for plan in plans {
            try NFTables(socket: s).install(plan, timeout: .seconds(1), dormant: true)
            try s.batch({ try NFTablesRequests.deleteBatch(table: plan.table, seq: $0) }, "deleting the probe's table")
        }
    }
}
