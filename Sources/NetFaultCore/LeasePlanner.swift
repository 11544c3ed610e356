/// How leases are installed here, decided once per command from what the kernel can do, and
/// given to every plan of that command (each on-period of a schedule included).
public struct LeasePolicy: Sendable, Equatable {
    /// nf_tables works here: netem bands on leaving traffic are steered by the lease's table,
    /// whose set expires at the deadline, instead of by u32 filters.
    public let steerWithNFTables: Bool
    public init(steerWithNFTables: Bool) { self.steerWithNFTables = steerWithNFTables }
    /// u32 filters only (a kernel without nf_tables).
    public static let u32 = LeasePolicy(steerWithNFTables: false)
}

/// What a request would install, decided from one snapshot of the kernel: the plan, the
/// traffic-control steps that install it, the device and where the server is.
public struct LeasePreview: Sendable {
    public let id: String
    public let plan: LeasePlan
    public let steps: [TCStep]
    public let device: String
    public let server: ServerLocation
    public let duration: Duration
}

/// The kernel state a plan is made from, read once (NetFaultLeases reads it).
public struct LeaseSnapshot: Sendable {
    /// The device a lease's netem faults go on.
    public struct Device: Sendable {
        public let name: String
        public let index: Int32
        public let isLoopback: Bool
        public let state: DeviceState
        /// The state of its ifb device (which takes arriving packets).
        public let ifb: DeviceState
        public init(name: String, index: Int32, isLoopback: Bool, state: DeviceState, ifb: DeviceState) {
            self.name = name; self.index = index; self.isLoopback = isLoopback; self.state = state; self.ifb = ifb
        }
    }
    public let server: ServerLocation
    /// nil for a lease without netem faults.
    public let device: Device?
    public init(server: ServerLocation, device: Device?) { self.server = server; self.device = device }
}

/// Plans a lease from a request, a policy and a snapshot: no kernel, no journal.
public enum LeasePlanner {
    public static func preview(
        _ request: FaultRequest, policy: LeasePolicy, snapshot: LeaseSnapshot, id: String
    ) throws -> LeasePreview {
        var plan = LeasePlan(bands: [], redirects: [])
        var steps: [TCStep] = []
        if let d = snapshot.device {
            plan = try Planner.plan(
                target: request.target, peers: request.peers, direction: request.direction,
                netem: request.netem, device: d.state, isLoopback: d.isLoopback,
                deviceIndex: d.index, ifbState: d.ifb, server: snapshot.server,
                steerWithNFTables: policy.steerWithNFTables)
            steps = Planner.steps(for: plan, devices: [d.name: d.state, d.ifb.name: d.ifb])
        }
        plan.filter = FilterPlanner.plan(
            leaseID: id, target: request.target, peers: request.peers,
            direction: request.direction, spec: request.filter, server: snapshot.server)
        var steering = plan.bands.filter(\.steeredByNFTables).flatMap { FilterPlanner.steering($0, leaseID: id) }
        var share = plan.filter?.share
        let filter = request.filter
        if filter.scope != nil || filter.connections != nil, plan.hasTrafficControl {
            try requireDrawnSteering(plan)
            (steering, share) = FilterPlanner.drawnSteering(
                steering, share: filter.connections, scope: filter.scope, decided: share, target: request.target,
                peers: request.peers, server: snapshot.server, leaseID: id)
        }
        if !steering.isEmpty {
            plan.filter = FilterPlan(
                table: Ownership.tableName(leaseID: id), ports: request.target.ports,
                rules: (plan.filter?.rules ?? []) + steering, share: share, life: plan.filter?.life)
        }
        return LeasePreview(
            id: id, plan: plan, steps: steps, device: snapshot.device?.name ?? "", server: snapshot.server,
            duration: request.duration)
    }

    /// A scope or a share (--connections) can only take the netem bands nf_tables steers: packets
    /// leaving this host, whose socket is the sender's and whose connection's lot the lease's
    /// table holds. Arriving packets reach netem through ifb before nf_tables sees them.
    static func requireDrawnSteering(_ plan: LeasePlan) throws {
        guard plan.redirects.isEmpty else {
            throw InputError(
                """
                netem faults on a remote server's responses (--direction from-server or both) are shaped on \
                arrival, before netfilter can tell which connection a packet is on; with --connections, --uid, \
                --cgroup or --scope command give --direction to-server, or use connection faults
                """)
        }
        guard plan.bands.allSatisfy(\.steeredByNFTables) else {
            throw Unavailable(
                """
                netem faults on a share of connections (--connections) or scoped to a process (--uid, --cgroup, \
                --scope command) need nf_tables to steer them, and this kernel's nf_tables lacks what that needs \
                (nf_tables inet tables, numgen, dynamic sets; see netfault doctor)
                """)
        }
    }
}
