import FoundationEssentials
import Glibc
import NetFaultCore

extension FeatureProbe {
    /// --connections' sets and rules, both families, a random draw and a count, in a dormant
    /// table (no packet sees them) that is deleted again.
    static func probeConnectionDraws(_ s: NetlinkSocket, suffix: String) throws {
        try probeDraws(s, [(FilterSpec(action: .reject, connections: .percent(Percent(30))), "r"),
            (FilterSpec(action: .reject, connections: .every(3)), "e")], suffix: suffix)
    }

    /// --uid's and --cgroup's decisions (meta skuid; socket cgroupv2 with a level), the same way.
    static func probeSocketScope(_ s: NetlinkSocket, suffix: String) throws {
        let cgroup = SocketScope.cgroup(CgroupScope(path: "/probe", id: 1, level: 1))
        try probeDraws(s, [(FilterSpec(action: .reject, scope: .uid(65534)), "u"),
            (FilterSpec(action: .reject, connections: .every(2), scope: cgroup), "c")], suffix: suffix)
    }

    static func probeDraws(_ s: NetlinkSocket, _ specs: [(FilterSpec, String)], suffix: String) throws {
        let target = Target(ports: [9])
        var plans: [FilterPlan] = []
        for (spec, name) in specs {
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
