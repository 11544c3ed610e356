import Testing
@testable import NetFaultCore

/// --connections with netem faults: the lease's table draws each new connection, and the rules
/// that steer its leaving packets into the netem band look the drawn ones up; where nf_tables
/// cannot steer, or a band shapes arriving packets (which tc sees before netfilter), it is refused.
struct NetemShareTests {
    static func request(
        _ filter: FilterSpec, direction: Direction = .both, server: ServerLocation = .local
    ) -> FaultRequest {
        FaultRequest(
            target: Target(ports: [6379], name: "redis"), direction: direction,
            netem: NetemSpec(delay: .milliseconds(200)), filter: filter, device: nil, duration: .seconds(60),
            server: server)
    }

    static let steer = LeasePolicy(steerWithNFTables: true)

    @Test("--connections takes netem faults alone or beside connection faults; alone it still needs a fault")
    func validates() throws {
        let netem = NetemSpec(delay: .milliseconds(200))
        try FilterSpec(connections: .percent(Percent(50))).validate(direction: .both, netem: netem)
        try FilterSpec(action: .reject, connections: .every(3)).validate(direction: .both, netem: netem)
        #expect {
            try FilterSpec(connections: .every(3)).validate(direction: .both, netem: NetemSpec())
        } throws: { ($0 as? InputError)?.message.contains("give a fault with it") == true }
    }

    /// On loopback a connection's requests and responses both leave through lo's output, so both
    /// directions are steered there, by its lot drawn at the SYN (output first, then input).
    @Test("--delay 200ms --connections 50% on loopback: the draw, then steering of drawn connections only")
    func loopback() throws {
        let snapshot = LeaseSnapshot(server: .local, device: LeasePlannerTests.lo)
        let p = try LeasePlanner.preview(
            Self.request(FilterSpec(connections: .percent(Percent(50)))), policy: Self.steer, snapshot: snapshot,
            id: "nf-00000e")
        let filter = try #require(p.plan.filter)
        #expect(filter.rules.count == 4 && filter.rules.allSatisfy { $0.verdict == .steer })
        #expect(filter.rules.map(\.chosen) == [.ipv4, .ipv6, .ipv4, .ipv6])
        #expect(Set(filter.rules.map(\.side)) == [.destination, .source], "both directions")
        let share = try #require(filter.share)
        #expect(share.share == .percent(Percent(50)) && share.scope == nil)
        #expect(share.rules.map(\.hook) == [.output, .output, .output, .output, .input, .input, .input, .input])
        #expect(share.rules.filter { $0.draw != nil }.count == 4)
        #expect(filter.rules[0].nftSyntax.contains("ip saddr . tcp sport . ip daddr . tcp dport @chosen4"))
        #expect(filter.rules[2].nftSyntax.contains("ip daddr . tcp dport . ip saddr . tcp sport @chosen4"))
        #expect(share.rules[0].comment == "netfault nf-00000e: connections 50%")
    }

    /// One draw for both kinds: the connection faults' own decision is the bands' too, so a
    /// connection refused is never one the delay skipped (or the other way round).
    @Test("netem and a connection fault on one share: one decision, both look up the same sets")
    func oneLot() throws {
        let snapshot = LeaseSnapshot(server: .local, device: LeasePlannerTests.lo)
        let p = try LeasePlanner.preview(
            Self.request(FilterSpec(action: .hang, connections: .every(3))), policy: Self.steer, snapshot: snapshot,
            id: "nf-00000f")
        let filter = try #require(p.plan.filter)
        let share = try #require(filter.share)
        #expect(share.rules.filter { $0.draw == .every(3) }.count == 4, "one draw per hook and family: \(share)")
        #expect(filter.rules.filter { $0.verdict == .drop }.count == 4)
        #expect(filter.rules.filter { $0.verdict == .steer }.count == 4)
        #expect(filter.rules.allSatisfy { $0.chosen != nil && $0.group == nil })
    }

    @Test("a remote server: its requests steered by their lot in output; its responses (arriving) refused")
    func remoteToServer() throws {
        let eth = LeaseSnapshot.Device(
            name: "eth0", index: 2, isLoopback: false,
            state: DeviceState(name: "eth0", root: .kernelDefault(kind: "noqueue")),
            ifb: DeviceState(name: Ownership.ifbName(forIndex: 2), root: .kernelDefault(kind: "none"), exists: false))
        let snapshot = LeaseSnapshot(server: .remote, device: eth)
        let request = Self.request(FilterSpec(connections: .percent(Percent(50))), direction: .toServer, server: .remote)
        let p = try LeasePlanner.preview(request, policy: Self.steer, snapshot: snapshot, id: "nf-000010")
        let filter = try #require(p.plan.filter)
        #expect(filter.rules.allSatisfy { $0.verdict == .steer && $0.side == .destination && $0.chosen != nil })
        #expect(filter.share?.rules.allSatisfy { $0.hook == .output } == true)
        // A remote server's responses arrive through an ifb, before nf_tables: exit 64, saying why.
        #expect {
            try LeasePlanner.preview(
                Self.request(FilterSpec(connections: .percent(Percent(50))), server: .remote), policy: Self.steer,
                snapshot: snapshot, id: "nf-000011")
        } throws: { ($0 as? InputError)?.message.contains("--direction to-server") == true }
    }

    /// u32 filters (a kernel without nf_tables) cannot tell connections apart: exit 69.
    @Test("without nf_tables steering a netem share is refused with exit 69, naming nf_tables")
    func needsNFTables() throws {
        let snapshot = LeaseSnapshot(server: .local, device: LeasePlannerTests.lo)
        #expect {
            try LeasePlanner.preview(
                Self.request(FilterSpec(connections: .every(2))), policy: .u32, snapshot: snapshot, id: "nf-000012")
        } throws: { e in
            guard let e = e as? Unavailable else { return false }
            return e.exitStatus == 69 && e.message.contains("nf_tables") && e.message.contains("--connections")
        }
    }
}
