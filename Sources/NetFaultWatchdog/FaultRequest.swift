import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

/// What the user asked for, validated.
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
    /// nf_tables works here: netem bands on leaving traffic are steered by the lease's table,
    /// whose set expires at the deadline, instead of by u32 filters. Resolved once per command
    /// (`steersWithNFTables`), before the first lease.
    public var steerWithNFTables = false

    public init(
        target: Target, direction: Direction, netem: NetemSpec, filter: FilterSpec = FilterSpec(),
        peers: [IPPrefix] = [], device: String?, duration: Duration, netns: NetworkNamespace? = nil,
        server: ServerLocation? = nil, steerWithNFTables: Bool = false
    ) {
        self.target = target; self.direction = direction; self.netem = netem; self.filter = filter
        self.peers = peers; self.device = device; self.duration = duration; self.netns = netns
        self.server = server; self.steerWithNFTables = steerWithNFTables
    }

    /// The same request for another length (a scheduled on-period): every other field kept,
    /// steering included, so each period's deadline is enforced as the whole run's would be.
    public func lasting(_ length: Duration) -> FaultRequest {
        FaultRequest(
            target: target, direction: direction, netem: netem, filter: filter, peers: peers, device: device,
            duration: length, netns: netns, server: server, steerWithNFTables: steerWithNFTables)
    }

    /// Where the server is: as given, else found from the namespace's listening sockets.
    func serverLocation() throws -> ServerLocation {
        if let server { return server }
        guard target.host == nil, peers.isEmpty else { return .remote }
        let listening = try Listeners.tcpPorts(in: netns)
        return target.ports.contains(where: listening.contains) ? .local : .remote
    }

    var scope: FaultScope {
        FaultScope(target: target, peers: peers, direction: direction, netem: netem, filter: filter)
    }
}
