/// What the user asked for, validated: what a lease is planned from (with a LeasePolicy and a
/// snapshot of the kernel).
public struct FaultRequest: Sendable {
    public let target: Target
    public let direction: Direction
    public let netem: NetemSpec
    public let filter: FilterSpec
    /// Address blocks that narrow the netfilter faults (`--peer`).
    public let peers: [IPPrefix]
    /// nil: the device the kernel routes the host through, or lo without a host.
    public let device: String?
    public let duration: Duration
    /// nil: this process's own network namespace.
    public let netns: NetworkNamespace?
    /// nil: local when something listens on a target port in the namespace and no --host or
    /// --peer names a server address, else remote.
    public let server: ServerLocation?
    // How it is installed (steering by nf_tables) is not the request's: it is a LeasePolicy,
    // resolved once per command and given to every plan.

    public init(
        target: Target, direction: Direction, netem: NetemSpec, filter: FilterSpec = FilterSpec(),
        peers: [IPPrefix] = [], device: String?, duration: Duration, netns: NetworkNamespace? = nil,
        server: ServerLocation? = nil
    ) {
        self.target = target; self.direction = direction; self.netem = netem; self.filter = filter
        self.peers = peers; self.device = device; self.duration = duration; self.netns = netns
        self.server = server
    }

    /// The same request for another length (a scheduled on-period): every other field kept.
    public func lasting(_ length: Duration) -> FaultRequest {
        FaultRequest(
            target: target, direction: direction, netem: netem, filter: filter, peers: peers, device: device,
            duration: length, netns: netns, server: server)
    }

    /// The same request for the connections of `scope` only (run --scope command's cgroup).
    public func scoped(_ scope: SocketScope) -> FaultRequest {
        var f = filter
        f.scope = scope
        return FaultRequest(
            target: target, direction: direction, netem: netem, filter: f, peers: peers, device: device,
            duration: duration, netns: netns, server: server)
    }

    /// Where the server is: as given, else found from the namespace's listening sockets (`ports`
    /// lists them, asked only when needed).
    public func serverLocation(listening ports: () throws -> Set<UInt16>) throws -> ServerLocation {
        if let server { return server }
        guard target.host == nil, peers.isEmpty else { return .remote }
        let listening = try ports()
        return target.ports.contains(where: listening.contains) ? .local : .remote
    }

    public var scope: FaultScope {
        FaultScope(target: target, peers: peers, direction: direction, netem: netem, filter: filter)
    }
}
