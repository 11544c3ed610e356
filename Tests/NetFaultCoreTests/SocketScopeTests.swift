import Testing
@testable import NetFaultCore

/// --uid, --cgroup and run --scope command in the plan: where the choice is made, which leases
/// can share a port, and what status and the rules' comments say.
struct SocketScopeTests {
    static let job1 = SocketScope.cgroup(CgroupScope(path: "/netfault-run-10", id: 101, level: 1, madeForRun: true))
    static let job2 = SocketScope.cgroup(CgroupScope(path: "/netfault-run-11", id: 102, level: 1, madeForRun: true))

    /// On input the kernel would find a SYN's listener, the server's socket: a scope chooses on
    /// output only, even for a local server (whose remote clients are never chosen).
    @Test("a scoped plan chooses in output only, then every fault rule looks the chosen set up", arguments: [
        ServerLocation.local, .remote
    ])
    func plan(server: ServerLocation) throws {
        let spec = FilterSpec(action: .reject, scope: .uid(65534))
        let p = try #require(
            FilterPlanner.plan(
                leaseID: "nf-1", target: Target(ports: [6379]), peers: [], direction: .both, spec: spec,
                server: server))
        let share = try #require(p.share)
        #expect(share.share == nil && share.scope == .uid(65534))
        #expect(share.rules.allSatisfy { $0.hook == .output })
        #expect(share.rules.map(\.scope) == [.uid(65534), nil, .uid(65534), nil])
        #expect(share.rules.map(\.chooses) == [true, false, true, false])
        #expect(p.rules.map(\.chosen) == [.ipv4, .ipv6])
        #expect(share.rules[0].nftSyntax.contains("!= @passed4 meta skuid 65534 counter add @chosen4"))
        #expect(p.rules.allSatisfy { $0.comment == "netfault nf-1: reject, scope uid 65534" })
    }

    @Test("a scope with --connections draws the share among the scoped connections only")
    func withShare() throws {
        let spec = FilterSpec(action: .hang, connections: .every(2), scope: Self.job1)
        let p = try #require(
            FilterPlanner.plan(
                leaseID: "nf-1", target: Target(ports: [6379]), peers: [], direction: .both, spec: spec))
        let choose = try #require(p.share?.rules.first)
        #expect(choose.draw == .every(2) && choose.scope == Self.job1)
        // The socket first: a connection out of scope must not advance numgen's count.
        let syntax = choose.nftSyntax
        let socket = try #require(syntax.range(of: "socket cgroupv2 level 1 101"))
        let numgen = try #require(syntax.range(of: "numgen inc mod 2 == 1"))
        #expect(socket.upperBound < numgen.lowerBound)
    }

    @Test("leases on one port conflict unless no connection can be in both scopes")
    func conflicts() throws {
        func scope(_ s: SocketScope?) -> FaultScope {
            FaultScope(
                target: Target(ports: [6379]), peers: [], direction: .toServer, netem: NetemSpec(),
                filter: FilterSpec(action: .reject, scope: s))
        }
        let parent = SocketScope.cgroup(CgroupScope(path: "/ci", id: 7, level: 1))
        let child = SocketScope.cgroup(CgroupScope(path: "/ci/job", id: 8, level: 2))
        let sibling = SocketScope.cgroup(CgroupScope(path: "/cix", id: 9, level: 1))
        #expect(scope(Self.job1).conflicts(with: scope(Self.job2)).isEmpty)
        #expect(scope(.uid(1000)).conflicts(with: scope(.uid(1001))).isEmpty)
        #expect(scope(parent).conflicts(with: scope(sibling)).isEmpty, "/cix is not below /ci")
        #expect(scope(parent).conflicts(with: scope(child)) == [.netfilter])
        #expect(scope(Self.job1).conflicts(with: scope(Self.job1)) == [.netfilter])
        #expect(scope(.uid(1000)).conflicts(with: scope(.uid(1000))) == [.netfilter])
        #expect(scope(.uid(1000)).conflicts(with: scope(Self.job1)) == [.netfilter])
        #expect(scope(nil).conflicts(with: scope(Self.job1)) == [.netfilter], "everyone's includes the job's")
    }

    @Test("status names the scope by its path, the rules' comments by its id")
    func texts() {
        #expect(Self.job1.description == "cgroup /netfault-run-10")
        #expect(Self.job1.brief == "cgroup 101")
        #expect(Self.job1.nftSyntax == "socket cgroupv2 level 1 101")
        #expect(CgroupScope.level(of: "/") == 0 && CgroupScope.level(of: "/a/b") == 2)
    }

    @Test("a scoped request keeps every other field")
    func scoped() throws {
        let r = FaultRequest(
            target: Target(ports: [6379]), direction: .both, netem: NetemSpec(),
            filter: FilterSpec(action: .hang, connections: .every(3)), device: nil, duration: .seconds(60))
        let s = r.scoped(Self.job2)
        #expect(s.filter == FilterSpec(action: .hang, connections: .every(3), scope: Self.job2))
        #expect(s.duration == r.duration && s.direction == r.direction)
    }

    /// Netem with a scope: the bands nf_tables steers take only the chosen connections, decided
    /// by the scope's rules in output; u32 steering cannot tell sockets apart, so it is refused.
    @Test("a scoped netem lease steers only chosen connections; without nf_tables steering it is refused")
    func netem() throws {
        let request = FaultRequest(
            target: Target(ports: [6379], name: "redis"), direction: .both,
            netem: NetemSpec(delay: .milliseconds(10)), filter: FilterSpec(scope: Self.job1), device: nil,
            duration: .seconds(60), server: .local)
        let snapshot = LeaseSnapshot(server: .local, device: LeasePlannerTests.lo)
        let p = try LeasePlanner.preview(
            request, policy: LeasePolicy(steerWithNFTables: true), snapshot: snapshot, id: "nf-00000c")
        let filter = try #require(p.plan.filter)
        #expect(!filter.rules.isEmpty && filter.rules.allSatisfy { $0.verdict == .steer && $0.chosen != nil })
        #expect(filter.share?.scope == Self.job1)
        #expect(filter.share?.rules.allSatisfy { $0.hook == .output } == true)
        #expect(throws: Unavailable.self) {
            try LeasePlanner.preview(request, policy: .u32, snapshot: snapshot, id: "nf-00000d")
        }
    }
}
