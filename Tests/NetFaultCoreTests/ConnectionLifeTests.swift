import Testing
@testable import NetFaultCore

/// --reset-after, --hang-after, --limit-data: what they accept, what they refuse (exit 64 before
/// anything is touched), and the sets and rules they add to a lease's plan.
struct ConnectionLifeTests {
    static func parse(reset: String? = nil, hang: String? = nil, limit: String? = nil, action: String? = nil)
        throws -> ConnectionLife
    {
        try ConnectionLife.parse(resetAfter: reset, hangAfter: hang, limitData: limit, limitAction: action)
    }

    @Test func parses() throws {
        #expect(try Self.parse(reset: "2s").resetAfter == .seconds(2))
        #expect(try Self.parse(hang: "1.5s").hangAfter == .milliseconds(1500))
        #expect(try Self.parse(limit: "4096").limitData == 4096)
        #expect(try Self.parse(limit: "64KiB").limitData == 65536)
        #expect(try Self.parse(limit: "1kb", action: "CLOSE").limitAction == .close)
        #expect(try Self.parse(reset: "2s", limit: "4096").summary == "reset-after 2s, limit-data 4096")
        #expect(try Self.parse().isEmpty)
    }

    @Test(
        "bad timers, budgets and actions are refused with a message naming the option",
        arguments: [
            (nil, nil, "0", nil, "--limit-data"), (nil, nil, "-1", nil, "--limit-data"),
            (nil, nil, "4k", nil, "--limit-data"), (nil, nil, "99999999999999999999", nil, "--limit-data"),
            (nil, nil, "18446744073709551615gib", nil, "--limit-data"), (nil, nil, "2TiB", nil, "--limit-data"),
            (nil, nil, "4096", "drop", "--limit-data-action"), (nil, nil, nil, "close", "--limit-data-action"),
            ("9ms", nil, nil, nil, "--reset-after"), ("0s", nil, nil, nil, "--reset-after"),
            ("-2s", nil, nil, nil, "--reset-after"), (nil, "junk", nil, nil, "--hang-after"),
            ("2s", "3s", nil, nil, "--hang-after")
        ] as [(String?, String?, String?, String?, String)])
    func refuses(reset: String?, hang: String?, limit: String?, action: String?, named: String) {
        #expect {
            try Self.parse(reset: reset, hang: hang, limit: limit, action: action)
        } throws: { e in
            guard let e = e as? InputError else { return false }
            return e.exitStatus == 64 && e.message.contains(named)
        }
    }

    @Test("--slice takes 64 to 1400 bytes; below, the reason (tcp_min_snd_mss, timestamps) and 64")
    func slices() throws {
        #expect(try ConnectionLife.parse(resetAfter: nil, hangAfter: nil, limitData: nil, limitAction: nil,
                                         slice: "100").slice == 100)
        for (text, named) in [("63", "tcp_min_snd_mss"), ("0", "64 or more"), ("1401", "64 to 1400"),
                              ("-1", "not a number"), ("1e3", "not a number"), ("99999999999999999999", "not a number")] {
            #expect {
                try ConnectionLife.parse(resetAfter: nil, hangAfter: nil, limitData: nil, limitAction: nil, slice: text)
            } throws: { e in
                guard let e = e as? InputError else { return false }
                return e.exitStatus == 64 && e.message.contains("--slice") && e.message.contains(named)
            }
        }
        let p = try plan(ConnectionLife(slice: 100), server: .local)
        #expect(p.life?.slices.map(\.hook) == [.input] && p.life?.slices.first?.chosen == nil)
        #expect(p.life?.starts.isEmpty == true && p.life?.rules.isEmpty == true)
        #expect(p.nftScript(timeout: .seconds(5)).contains("tcp option maxseg size set 100"))
        let drawn = try plan(ConnectionLife(slice: 100), connections: .every(2))
        #expect(drawn.life?.slices.map(\.chosen) == [.ipv4, .ipv6])
    }

    @Test("the life faults are refused beside an action that takes every packet, and beside netem")
    func combinations() throws {
        let life = ConnectionLife(resetAfter: .seconds(2))
        #expect(throws: InputError.self) {
            try FilterSpec(action: .reset, life: life).validate(direction: .both, netem: NetemSpec())
        }
        #expect(throws: InputError.self) {
            try FilterSpec(life: life).validate(direction: .both, netem: NetemSpec(delay: .milliseconds(10)))
        }
        try FilterSpec(loss: Percent(5), connections: .every(2), life: life).validate(
            direction: .both, netem: NetemSpec())
        #expect(!FilterSpec(life: life).isEmpty)
        #expect(FilterSpec(life: ConnectionLife()).life == nil)
    }

    func plan(_ life: ConnectionLife, direction: Direction = .toServer, server: ServerLocation = .remote,
              connections: ConnectionShare? = nil, peers: [IPPrefix] = []) throws -> FilterPlan {
        try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: peers, direction: direction,
                spec: FilterSpec(connections: connections, life: life), server: server))
    }

    @Test("--reset-after: starts where the SYN passes, resets on the requests' side per family")
    func resetAfterPlan() throws {
        let remote = try plan(ConnectionLife(resetAfter: .seconds(2)))
        #expect(remote.rules.isEmpty)
        #expect(remote.life?.starts.map(\.hook) == [.output, .output])
        #expect(remote.life?.rules.map(\.hook) == [.output, .output])
        #expect(remote.life?.rules.allSatisfy { $0.kind == .expired && $0.verdict == .reset } == true)
        #expect(remote.life?.timerFamilies == [.ipv4, .ipv6])
        #expect(remote.hooks == [.output])
        let local = try plan(ConnectionLife(hangAfter: .seconds(1)), direction: .both, server: .local)
        #expect(local.life?.starts.map(\.hook) == [.output, .output, .input, .input])
        #expect(Set(local.life?.rules.map { "\($0.hook) \($0.side)" } ?? []) == ["input destination", "output source"])
        #expect(local.life?.rules.allSatisfy { $0.verdict == .drop && $0.flags == .notSyn } == true)
        let script = local.nftScript(timeout: .seconds(60))
        #expect(script.contains("set young4 {") && script.contains("timeout 1s;") && script.contains("set seen6 {"))
        // A timer longer than the lease is cut to it.
        #expect(local.life?.timerMilliseconds(lease: 500) == 500)
    }

    /// Toxiproxy's timeout with a time: a hang whose connections are reset once their time is
    /// up. Behind the hang's drop the reset would never see a packet, so its rules lead.
    @Test("--hang --reset-after: accepted alone; the timer's resets ahead of the hang's drops, in nft's order too")
    func hangThenReset() throws {
        let life = ConnectionLife(resetAfter: .seconds(2))
        try FilterSpec(action: .hang, life: life).validate(direction: .toServer, netem: NetemSpec())
        for other in [ConnectionLife(resetAfter: .seconds(2), limitData: 10), ConnectionLife(hangAfter: .seconds(2))] {
            #expect(throws: InputError.self) {
                try FilterSpec(action: .hang, life: other).validate(direction: .toServer, netem: NetemSpec())
            }
        }
        let p = try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .both,
                spec: FilterSpec(action: .hang, life: life), server: .local))
        #expect(p.life?.leads == true && p.rules.count == 2 && p.life?.rules.count == 4)
        let script = p.nftScript(timeout: .seconds(60))
        for hook in ["input", "output"] {
            let chain = try #require(script.components(separatedBy: "chain \(hook) {").last)
            let reset = try #require(chain.range(of: "reject with tcp reset"))
            let drop = try #require(chain.range(of: "tcp flags & syn == 0 counter drop"))
            #expect(reset.lowerBound < drop.lowerBound, "\(hook): \(chain)")
        }
        // Alone, or beside a mix, the life rules stay behind the fault rules (a mix's groups as alone).
        #expect(try plan(life).life?.leads == nil)
    }

    @Test("--limit-data: one budget rule per family on the server's side, whatever --direction says")
    func limitDataPlan() throws {
        let p = try plan(ConnectionLife(limitData: 4096), peers: [try IPPrefix.parse("::1")])
        #expect(p.life?.starts.isEmpty == true)
        #expect(p.life?.rules.count == 1)
        let r = try #require(p.life?.rules.first)
        #expect(r.hook == .input && r.side == .source && r.family == .ipv6 && r.verdict == .resetReceiver)
        #expect(r.kind == .overBudget(4096))
        #expect(p.life?.budgetFamilies == [.ipv6] && p.life?.timerFamilies == [])
        let close = try plan(ConnectionLife(limitData: 10, limitAction: .close), connections: .every(2))
        #expect(close.life?.rules.allSatisfy { $0.verdict == .drop && $0.chosen } == true)
        #expect(close.life?.rules.first?.nftSyntax.contains("@chosen4 add @budget4 {") == true)
    }
}
