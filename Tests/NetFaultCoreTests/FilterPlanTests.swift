import Testing
@testable import NetFaultCore

struct IPPrefixTests {
    @Test(
        "prefixes parse, clear host bits and print back",
        arguments: [
            ("10.1.2.3/8", "10.0.0.0/8"), ("192.168.1.7", "192.168.1.7"), ("10.64.0.0/10", "10.64.0.0/10"),
            ("10.127.255.255/10", "10.64.0.0/10"), ("fd00::1/64", "fd00::/64"), ("::1", "::1"),
            ("2001:db8::/32", "2001:db8::/32")
        ])
    func parse(text: String, expected: String) throws {
        #expect(try IPPrefix.parse(text).description == expected)
    }

    @Test(
        "bad prefixes are refused with a message naming the option",
        arguments: [
            "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "/8", "example.org", "10.0.0.0/8/8", "0.0.0.0/0",
            "10.0.0.0/-1"
        ])
    func bad(text: String) {
        #expect(throws: InputError.self) { try IPPrefix.parse(text) }
        do { _ = try IPPrefix.parse(text) } catch let e as InputError { #expect(e.message.contains("--peer")) } catch {}
    }

    @Test("masks and overlaps")
    func overlap() throws {
        let p10 = try IPPrefix.parse("10.64.0.0/10")
        #expect(p10.mask == [0xff, 0xc0, 0, 0])
        #expect(p10.overlaps(try IPPrefix.parse("10.100.1.1")))
        #expect(!p10.overlaps(try IPPrefix.parse("10.128.0.1")))
        #expect(try IPPrefix.parse("10.0.0.0/8").overlaps(p10))
        #expect(!(try IPPrefix.parse("::1").overlaps(try IPPrefix.parse("127.0.0.1"))))
    }
}

struct FilterSpecTests {
    @Test(
        "combinations that make no sense are refused before anything happens",
        arguments: [
            (FilterSpec(action: .reject), Direction.fromServer, NetemSpec(), "--direction from-server carries none"),
            (FilterSpec(action: .blackhole, loss: Percent(5)), .toServer, NetemSpec(), "adds nothing"),
            (FilterSpec(action: .reset, loss: Percent(5)), .toServer, NetemSpec(), "adds nothing"),
            (FilterSpec(loss: Percent(5)), .toServer, NetemSpec(loss: Percent(1)), "give one"),
            (FilterSpec(loss: Percent(0)), .toServer, NetemSpec(), "drops nothing"),
            (FilterSpec(loss: Percent(0.00001)), .toServer, NetemSpec(), "below what netfilter can draw")
        ])
    func refused(spec: FilterSpec, direction: Direction, netem: NetemSpec, message: String) {
        do {
            try spec.validate(direction: direction, netem: netem)
            Issue.record("accepted \(spec)")
        } catch let e as InputError {
            #expect(e.message.contains(message), "\(e.message)")
        } catch { Issue.record("\(error)") }
    }

    @Test("accepted combinations")
    func accepted() throws {
        try FilterSpec(action: .reject, loss: Percent(5)).validate(direction: .both, netem: NetemSpec())
        try FilterSpec(action: .hang).validate(direction: .fromServer, netem: NetemSpec(delay: .milliseconds(5)))
        try FilterSpec(loss: Percent(0.0001)).validate(direction: .toServer, netem: NetemSpec())
        #expect(FilterSpec(loss: Percent(5)).lossThreshold == 50_000)
        #expect(FilterSpec(loss: Percent(100)).lossThreshold == FilterSpec.lossModulus)
    }
}

struct FilterPlannerTests {
    let redis = Target(ports: [6379])

    @Test("each action gives its rule, on output for to-server and input for from-server")
    func actions() throws {
        func rules(_ a: FilterSpec.Action, _ d: Direction) -> [String] {
            FilterPlanner.plan(leaseID: "nf-1", target: redis, peers: [], direction: d, spec: FilterSpec(action: a))!
                .rules.map { "\($0.hook.rawValue): \($0.nftSyntax)" }
        }
        #expect(
            rules(.blackhole, .toServer) == [
                #"output: meta l4proto tcp tcp dport @lease counter drop comment "netfault nf-1: blackhole""#
            ])
        #expect(
            rules(.reject, .both) == [
                #"output: meta l4proto tcp tcp dport @lease tcp flags & (syn | ack) == syn counter "#
                    + #"reject with tcp reset comment "netfault nf-1: reject""#
            ])
        #expect(
            rules(.reset, .fromServer) == [
                #"input: meta l4proto tcp tcp sport @lease tcp flags & rst == 0 counter "#
                    + #"reject with tcp reset comment "netfault nf-1: reset""#
            ])
        #expect(
            rules(.hang, .both) == [
                #"output: meta l4proto tcp tcp dport @lease tcp flags & syn == 0 counter "#
                    + #"drop comment "netfault nf-1: hang""#,
                #"input: meta l4proto tcp tcp sport @lease tcp flags & syn == 0 counter "#
                    + #"drop comment "netfault nf-1: hang""#
            ])
    }

    @Test("a host or peers give one rule per address block and side, the ports in the lease's set")
    func scopes() throws {
        let peers = [try IPPrefix.parse("10.0.0.0/8"), try IPPrefix.parse("fd00::/64")]
        let plan = FilterPlanner.plan(
            leaseID: "nf-2", target: Target(ports: [3306, 6379]), peers: peers,
            direction: .both, spec: FilterSpec(action: .blackhole))!
        #expect(plan.table == "netfault-nf-2")
        #expect(plan.ports == [3306, 6379])
        #expect(plan.rules.count == 4)
        #expect(plan.hooks == [.output, .input])
        #expect(plan.rules.filter { $0.hook == .input }.allSatisfy { $0.side == .source })
        #expect(plan.rules[0].nftSyntax.hasPrefix("meta l4proto tcp ip daddr 10.0.0.0/8 tcp dport @lease"))
        #expect(plan.rules[3].nftSyntax.hasPrefix("meta l4proto tcp ip6 saddr fd00::/64 tcp sport @lease"))

        let host = Target(ports: [6379], host: IPAddress("::1"))
        let h = FilterPlanner.plan(
            leaseID: "nf-3", target: host, peers: [], direction: .toServer, spec: FilterSpec(action: .hang))!
        #expect(h.rules.map(\.peer) == [IPPrefix(host: IPAddress("::1")!)])
        #expect(h.hooks == [.output])
    }

    @Test("reject with loss: the SYN is refused first, then the rest is lost at random")
    func rejectAndLoss() {
        let plan = FilterPlanner.plan(
            leaseID: "nf-4", target: redis, peers: [], direction: .both,
            spec: FilterSpec(action: .reject, loss: Percent(5)))!
        #expect(plan.rules.map(\.verdict) == [.reset, .drop, .drop])
        #expect(plan.rules.map(\.hook) == [.output, .output, .input])
        #expect(plan.rules[1].nftSyntax.contains("numgen random mod 1000000 < 50000 counter drop"))
    }

    @Test("no netfilter fault, no plan")
    func empty() {
        #expect(FilterPlanner.plan(leaseID: "x", target: redis, peers: [], direction: .both, spec: FilterSpec()) == nil)
    }
}

struct FaultScopeTests {
    func scope(
        _ ports: [UInt16], host: String? = nil, peers: [String] = [], _ d: Direction = .toServer,
        netem: NetemSpec = NetemSpec(), filter: FilterSpec = FilterSpec()
    ) throws -> FaultScope {
        FaultScope(
            target: Target(ports: ports, host: host.flatMap(IPAddress.init)),
            peers: try peers.map { try IPPrefix.parse($0) },
            direction: d, netem: netem, filter: filter)
    }
    let reject = FilterSpec(action: .reject)
    let delay = NetemSpec(delay: .milliseconds(10))

    @Test("the same kind of fault on the same port, direction and addresses conflicts")
    func conflicts() throws {
        #expect(
            try scope([6379], filter: reject).conflicts(with: scope([6379, 3306], filter: FilterSpec(action: .hang)))
                == [.netfilter])
        #expect(try scope([6379], netem: delay).conflicts(with: scope([6379], .both, netem: delay)) == [.netem])
        #expect(
            try scope([6379], host: "10.0.0.1", filter: reject).conflicts(
                with: scope([6379], peers: ["10.0.0.0/8"], filter: reject)) == [.netfilter])
        #expect(
            try scope([6379], netem: delay, filter: reject).conflicts(with: scope([6379], netem: delay, filter: reject))
                == [.netem, .netfilter])
    }

    @Test("different ports, directions, addresses or kinds do not")
    func noConflict() throws {
        #expect(try scope([6379], filter: reject).conflicts(with: scope([3306], filter: reject)).isEmpty)
        #expect(
            try scope([6379], .toServer, filter: reject).conflicts(
                with: scope([6379], .fromServer, filter: FilterSpec(action: .hang))
            ).isEmpty)
        #expect(
            try scope([6379], host: "127.0.0.1", filter: reject).conflicts(
                with: scope([6379], host: "127.0.0.2", filter: reject)
            ).isEmpty)
        #expect(
            try scope([6379], host: "::1", filter: reject).conflicts(
                with: scope([6379], peers: ["127.0.0.0/8"], filter: reject)
            ).isEmpty)
        #expect(try scope([3306], netem: delay).conflicts(with: scope([3306], filter: reject)).isEmpty)
    }
}

/// A local server (a sidecar in the service's namespace): requests are caught arriving, so
/// clients on other hosts are faulted too, and responses leaving.
@Suite struct LocalServerFilterPlanTests {
    let redis = Target(ports: [6379])

    func hooks(_ d: Direction, _ server: ServerLocation) -> [String] {
        FilterPlanner.plan(
            leaseID: "nf-1", target: redis, peers: [], direction: d, spec: FilterSpec(action: .blackhole),
            server: server)!.rules.map { "\($0.hook.rawValue) \($0.side == .destination ? "dport" : "sport")" }
    }

    @Test func requestsArriveAtALocalServer() {
        #expect(hooks(.toServer, .local) == ["input dport"])
        #expect(hooks(.fromServer, .local) == ["output sport"])
        #expect(hooks(.both, .local) == ["input dport", "output sport"])
    }

    @Test func requestsLeaveForARemoteServer() {
        #expect(hooks(.toServer, .remote) == ["output dport"])
        #expect(hooks(.both, .remote) == ["output dport", "input sport"])
    }

    @Test func rejectRefusesTheSynWhereverItIsCaught() {
        let rules = FilterPlanner.plan(
            leaseID: "nf-1", target: redis, peers: [], direction: .both, spec: FilterSpec(action: .reject),
            server: .local)!.rules
        #expect(rules.count == 1 && rules[0].hook == .input && rules[0].flags == .synOnly && rules[0].verdict == .reset)
    }
}
