import FoundationEssentials
import Glibc

extension FilterPlanner {
    /// A mix's rules (ConnectionMix): each group's fault as `--FAULT --connections DRAW` makes it,
    /// on the connections in the group's own set; the draws group after group in each chain, then
    /// the rule that puts a connection no group drew in `passed`. Every draw skips a connection
    /// already in any group's set or in `passed`, so each connection has one lot.
    static func plan(
        mix: ConnectionMix, leaseID: String, target: Target, peers: [IPPrefix], direction: Direction,
        server: ServerLocation
    ) -> FilterPlan {
        let comment = Ownership.ruleCommentPrefix + leaseID + ": " + FilterSpec(mix: mix).summary
        let n = mix.groups.count > 1 ? mix.groups.count : nil
        var rules: [FilterRule] = []
        var draws: [ShareRule] = []
        var passed: [ShareRule] = []
        for (k, g) in mix.groups.enumerated() {
            let spec = FilterSpec(action: g.action, connections: mix.draw(k))
            guard
                let p = plan(
                    leaseID: leaseID, target: target, peers: peers, direction: direction, spec: spec, server: server),
                let share = p.share
            else { continue }
            let group = k == 0 ? nil : k
            rules += p.rules.map { r in
                FilterRule(
                    hook: r.hook, side: r.side, peer: r.peer, flags: r.flags, lossThreshold: r.lossThreshold,
                    verdict: r.verdict, comment: comment, chosen: r.chosen, group: group)
            }
            for r in share.rules where r.draw != nil || k == 0 {
                let s = ShareRule(
                    hook: r.hook, peer: r.peer, family: r.family, draw: r.draw, comment: comment,
                    group: r.draw == nil ? nil : group, groups: n)
                if r.draw != nil { draws.append(s) } else { passed.append(s) }
            }
        }
        return FilterPlan(
            table: Ownership.tableName(leaseID: leaseID), ports: target.ports, rules: rules,
            share: ShareDecision(share: mix.draw(0), rules: draws + passed, groups: n))
    }
}
