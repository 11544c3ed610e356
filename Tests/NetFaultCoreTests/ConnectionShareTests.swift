import Testing
@testable import NetFaultCore

/// --connections: what it accepts, what it refuses (exit 64 before anything is touched), and the
/// rules it adds to a lease's plan.
struct ConnectionShareTests {
    @Test(
        "shares and counts parse", arguments: [
            ("30%", ConnectionShare.percent(Percent(30))), ("0.5%", .percent(Percent(0.5))),
            ("100%", .percent(Percent(100))), ("every:3", .every(3)), ("EVERY:1", .every(1)),
            (" every:1000000 ", .every(1_000_000))
        ])
    func parses(text: String, expected: ConnectionShare) throws {
        #expect(try ConnectionShare.parse(text) == expected)
    }

    @Test(
        "0%, above 100%, every:0 and junk are refused with a message naming --connections",
        arguments: [
            "0%", "101%", "-5%", "every:0", "every:-1", "every:", "every:1000001", "every:3.5", "30", "junk", "%",
            "nan%", "1e400%", "0.00001%", "every:99999999999999999999"
        ])
    func refuses(text: String) {
        #expect {
            try ConnectionShare.parse(text)
        } throws: { e in
            guard let e = e as? InputError else { return false }
            return e.exitStatus == 64 && e.message.contains("--connections")
        }
    }

    @Test("--connections needs a fault (NetemShareTests: a netem one)")
    func needsAConnectionFault() throws {
        #expect(throws: InputError.self) {
            try FilterSpec(connections: .every(3)).validate(direction: .both, netem: NetemSpec())
        }
        try FilterSpec(action: .reject, connections: .every(3)).validate(direction: .both, netem: NetemSpec())
    }

    /// Each fault rule is split per family, each looking its family's chosen set up; the draws
    /// (a draw into chosen, the rest into passed, per family) go in the requests' chain.
    @Test("a plan with --connections: draws in the requests' chain, fault rules per family")
    func plan() throws {
        let spec = FilterSpec(action: .hang, connections: .percent(Percent(30)))
        let p = try #require(
            FilterPlanner.plan(
                leaseID: "nf-1", target: Target(ports: [6379]), peers: [], direction: .both, spec: spec,
                server: .local))
        #expect(p.rules.count == 4)
        #expect(p.rules.map(\.chosen) == [.ipv4, .ipv6, .ipv4, .ipv6])
        let share = try #require(p.share)
        // A local server: a loopback SYN passes output first, a remote client's only input.
        #expect(share.rules.map(\.hook) == [.output, .output, .output, .output, .input, .input, .input, .input])
        #expect(share.rules.prefix(4).map(\.draw) == [.percent(Percent(30)), nil, .percent(Percent(30)), nil])
        #expect(share.families == [.ipv4, .ipv6])
        #expect(p.hooks == [.output, .input])
        #expect(p.rules[0].comment.hasSuffix("hang, connections 30%"))
    }

    @Test("an IPv6 --host draws and faults in IPv6 only")
    func oneFamily() throws {
        let p = try #require(
            FilterPlanner.plan(
                leaseID: "nf-1", target: Target(ports: [6379], host: IPAddress("::1")), peers: [],
                direction: .toServer, spec: FilterSpec(action: .reject, connections: .every(2))))
        #expect(p.rules.map(\.chosen) == [.ipv6])
        #expect(p.share?.families == [.ipv6])
        #expect(p.share?.rules.allSatisfy { $0.peer != nil && $0.hook == .output } == true)
        #expect(p.nftScript(timeout: .seconds(60)).contains("numgen inc mod 2 == 1"))
        #expect(!p.nftScript(timeout: .seconds(60)).contains("chosen4"))
    }
}
