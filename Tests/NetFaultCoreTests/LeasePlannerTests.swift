import NetFaultCore
import Testing

/// The lease planner: a request, a policy and a snapshot of the kernel in, a plan out; no
/// kernel and no journal in reach.
struct LeasePlannerTests {
    static let lo = LeaseSnapshot.Device(
        name: "lo", index: 1, isLoopback: true, state: DeviceState(name: "lo", root: .kernelDefault(kind: "noqueue")),
        ifb: DeviceState(name: Ownership.ifbName(forIndex: 1), root: .kernelDefault(kind: "none"), exists: false))

    static func request(duration: Duration = .seconds(60)) -> FaultRequest {
        FaultRequest(
            target: Target(ports: [6379], name: "redis"), direction: .fromServer,
            netem: NetemSpec(delay: .milliseconds(10)), device: nil, duration: duration, server: .local)
    }

    @Test(
        "the policy decides the steering: nf_tables rules in the lease's table, or u32 filters",
        arguments: [true, false])
    func policySteers(steer: Bool) throws {
        let snapshot = LeaseSnapshot(server: .local, device: Self.lo)
        let p = try LeasePlanner.preview(
            Self.request(), policy: LeasePolicy(steerWithNFTables: steer), snapshot: snapshot, id: "nf-00000a")
        #expect(p.plan.bands.map(\.steeredByNFTables) == [steer])
        #expect((p.plan.filter?.table == Ownership.tableName(leaseID: "nf-00000a")) == steer)
        #expect(p.steps.contains { if case .addBandFilter = $0 { true } else { false } } == !steer)
        #expect(p.device == "lo" && p.server == .local && p.duration == .seconds(60))
    }

    @Test("a scheduled on-period is planned as the whole run: same policy, same plan, its own length")
    func periodPlannedAlike() throws {
        let snapshot = LeaseSnapshot(server: .local, device: Self.lo)
        let policy = LeasePolicy(steerWithNFTables: true)
        let run = try LeasePlanner.preview(Self.request(), policy: policy, snapshot: snapshot, id: "nf-00000b")
        let period = try LeasePlanner.preview(
            Self.request().lasting(.seconds(2)), policy: policy, snapshot: snapshot, id: "nf-00000b")
        #expect(period.plan == run.plan && period.steps == run.steps)
        #expect(period.duration == .seconds(2))
    }

    @Test("without netem faults there is no device, no band and no tc step")
    func filterOnly() throws {
        let r = FaultRequest(
            target: Target(ports: [3306], name: "mysql"), direction: .toServer, netem: NetemSpec(),
            filter: FilterSpec(action: .blackhole), device: nil, duration: .seconds(60), server: .remote)
        let p = try LeasePlanner.preview(
            r, policy: .u32, snapshot: LeaseSnapshot(server: .remote, device: nil), id: "nf-00000c")
        #expect(p.plan.bands.isEmpty && p.steps.isEmpty && p.device == "")
        #expect(p.plan.filter?.ports == [3306])
    }
}
