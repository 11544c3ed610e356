import Testing
@testable import NetFaultCore

/// A mix (`--connections 30%:reject,10%:hang`): what it accepts and refuses (exit 64 before the
/// kernel), each group's draw, and the plan: one set per group, no connection in two.
struct ConnectionMixTests {
    @Test func parsesGroupsInOrder() throws {
        let m = try ConnectionMix.parse(" 30%:reject, 10%:HANG ")
        #expect(m.groups == [.init(share: Percent(30), action: .reject), .init(share: Percent(10), action: .hang)])
        #expect(m.description == "30%:reject,10%:hang")
        #expect(ConnectionMix.isMix("30%:reject") && !ConnectionMix.isMix("every:3") && !ConnectionMix.isMix("30%"))
    }

    /// Each group draws among what the groups before it left: overall the shares given.
    @Test func drawsAreConditionalSoTheSharesAreOverall() throws {
        let m = try ConnectionMix.parse("30%:reject,10%:hang,60%:blackhole")
        #expect(m.draw(0) == .percent(Percent(30)))
        #expect(m.draw(1) == .percent(Percent(14.2857)))  // 10 of the 70 left
        #expect(m.draw(2) == .percent(Percent(100)))  // all 60 left
        var left = 1.0
        for (k, g) in m.groups.enumerated() {
            guard case .percent(let p) = m.draw(k) else { Issue.record("not a percentage"); continue }
            #expect(abs(left * p.fraction - g.share.fraction) < 1e-6, "group \(k)")
            left *= 1 - p.fraction
        }
    }

    @Test(
        "bad mixes are refused with a message naming --connections", arguments: [
            "30%:reject,80%:hang", "30%:reject,10%:reject", "30%:drop", "30:reject", "30%:", ":reject",
            "30%:reject,", "0%:reject", "30%:reject:hang", "10%:reject,10%:hang,10%:reset,10%:blackhole,1%:reject",
            "nan%:reject", "0.00001%:hang"
        ])
    func refuses(text: String) {
        #expect {
            try ConnectionMix.parse(text)
        } throws: { e in
            guard let e = e as? InputError else { return false }
            return e.exitStatus == 64 && e.message.contains("--connections")
        }
    }

    @Test("a mix takes no netem, and reject needs the requests' direction, as on its own")
    func validation() throws {
        let mix = FilterSpec(mix: try ConnectionMix.parse("30%:reject,10%:hang"))
        #expect(!mix.isEmpty && mix.summary == "connections 30%:reject,10%:hang")
        try mix.validate(direction: .both, netem: NetemSpec())
        #expect(throws: InputError.self) { try mix.validate(direction: .fromServer, netem: NetemSpec()) }
        #expect(throws: InputError.self) {
            try mix.validate(direction: .both, netem: NetemSpec(delay: .milliseconds(10)))
        }
    }

    @Test("the plan: each group's fault rules look up its own set, every draw skips every set")
    func plan() throws {
        let p = try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .both,
                spec: FilterSpec(mix: try ConnectionMix.parse("30%:reject,10%:hang"))))
        let share = try #require(p.share)
        #expect(share.groups == 2 && share.sets == [0, 1, nil])
        #expect(share.rules.allSatisfy { $0.groups == 2 && $0.nftSyntax.contains("!= @chosen4_2") == ($0.family == .ipv4) })
        #expect(share.rules.map(\.set) == ["chosen4", "chosen6", "chosen4_2", "chosen6_2", "passed4", "passed6"])
        #expect(p.rules.filter { $0.verdict == .reset }.allSatisfy { $0.group == nil })
        #expect(p.rules.filter { $0.verdict == .drop }.allSatisfy { $0.group == 1 })
        #expect(p.rules.allSatisfy { $0.comment == "netfault x: connections 30%:reject,10%:hang" })
        let script = p.nftScript(timeout: .seconds(60))
        #expect(script.contains("set chosen6_2 {") && script.contains("numgen random mod 1000000 < 142857"))
    }

    /// Beside a timer and a budget, a mix's group sets take ids of their own: nft (and the
    /// kernel) resolve a rule's set by its id within the batch, so two sets with one id would file
    /// connections in the wrong set.
    @Test("a mix with --reset-after and --limit-data: every set of the table has an id of its own")
    func setIDsApart() throws {
        var spec = FilterSpec(mix: try ConnectionMix.parse("30%:reject,10%:hang,5%:blackhole,5%:reset"))
        spec.life = ConnectionLife(resetAfter: .seconds(2), limitData: 4096)
        try spec.validate(direction: .both, netem: NetemSpec())
        let p = try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .both, spec: spec,
                server: .local))
        let share = try #require(p.share), life = try #require(p.life)
        var ids: [UInt32] = [Ownership.leaseSetID]
        for f in share.families { ids += share.sets.map { Ownership.shareSetID(group: $0, family: f) } }
        for f in life.timerFamilies { ids += [true, false].map { Ownership.timerSetID(young: $0, family: f) } }
        ids += life.budgetFamilies.map(Ownership.budgetSetID)
        #expect(ids.count == 1 + 10 + 4 + 2 && Set(ids).count == ids.count, "\(ids.sorted())")
        // The life rules take every connection: no group's set looked up.
        #expect(!life.rules.isEmpty && life.rules.allSatisfy { !$0.chosen })
        #expect(p.rules.allSatisfy { $0.comment == "netfault x: " + spec.summary })
    }

    @Test("a mix with a scope: each group draws among the scope's connections, in output only")
    func scoped() throws {
        var spec = FilterSpec(mix: try ConnectionMix.parse("30%:reject,10%:hang"))
        spec.scope = .uid(65534)
        try spec.validate(direction: .both, netem: NetemSpec())
        let p = try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .both, spec: spec,
                server: .local))
        let share = try #require(p.share)
        #expect(share.scope == .uid(65534) && share.rules.allSatisfy { $0.hook == .output })
        #expect(share.rules.filter(\.chooses).allSatisfy { $0.scope == .uid(65534) && $0.draw != nil })
        #expect(share.rules.map(\.set) == ["chosen4", "chosen6", "chosen4_2", "chosen6_2", "passed4", "passed6"])
        spec.life = ConnectionLife(resetAfter: .seconds(2))
        #expect(throws: InputError.self) { try spec.validate(direction: .both, netem: NetemSpec()) }
    }
}
