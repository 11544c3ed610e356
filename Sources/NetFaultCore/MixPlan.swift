import FoundationEssentials
import Glibc

extension FilterPlanner {
    /// A mix's rules (ConnectionMix): each group's fault as `--FAULT --connections DRAW` makes it,
    /// on the connections in the group's own set; the draws group after group in each chain, then
    /// the rule that puts a connection no group drew in `passed`. Every draw skips a connection
    /// already in any group's set or in `passed`, so each connection has one lot. With a scope,
    /// the groups draw among the scope's connections only; the connection life faults beside a
    /// mix take every connection (FilterSpec.validateMix).
    static func plan(
        mix: ConnectionMix, spec: FilterSpec, leaseID: String, target: Target, peers: [IPPrefix],
        direction: Direction, server: ServerLocation
    ) -> FilterPlan {
        let comment = Ownership.ruleCommentPrefix + leaseID + ": " + spec.summary
            + (spec.scope.map { ", scope \($0.brief)" } ?? "")
        let n = mix.groups.count > 1 ? mix.groups.count : nil
        var rules: [FilterRule] = []
        var draws: [ShareRule] = []
        var passed: [ShareRule] = []
        for (k, g) in mix.groups.enumerated() {
            let group = FilterSpec(action: g.action, connections: mix.draw(k), scope: spec.scope)
            guard
                let p = plan(
                    leaseID: leaseID, target: target, peers: peers, direction: direction, spec: group, server: server),
                let share = p.share
            else { continue }
            let index = k == 0 ? nil : k
            rules += p.rules.map { r in
                FilterRule(
                    hook: r.hook, side: r.side, peer: r.peer, flags: r.flags, lossThreshold: r.lossThreshold,
                    verdict: r.verdict, comment: comment, chosen: r.chosen, group: index)
            }
            for r in share.rules where r.chooses || k == 0 {
                let s = ShareRule(
                    hook: r.hook, peer: r.peer, family: r.family, draw: r.draw, scope: r.scope, comment: comment,
                    group: r.chooses ? index : nil, groups: n)
                if r.chooses { draws.append(s) } else { passed.append(s) }
            }
        }
        let blocks = target.addressBlocks(peers: peers)
        let life = spec.life.flatMap {
            Self.life($0, server: server, direction: direction, scopes: blocks.isEmpty ? [nil] : blocks,
                      chosen: false, comment: comment)
        }
        return FilterPlan(
            table: Ownership.tableName(leaseID: leaseID), ports: target.ports, rules: rules,
            share: ShareDecision(share: mix.draw(0), scope: spec.scope, rules: draws + passed, groups: n), life: life)
    }
}
