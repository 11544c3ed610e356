import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

extension Claim: ClaimHandle {}

/// A netfilter socket of this process, as the owner of the tables it creates.
public final class NFTablesOwner: TableOwner {
    public let nft: NFTables
    public init(_ nft: NFTables) { self.nft = nft }
    public func install(_ plan: FilterPlan, timeout: Duration, lots: Duration?) throws {
        try nft.install(plan, timeout: timeout, lots: lots)
    }
    public func renew(table: String, ports: [UInt16], timeout: Duration) throws {
        try nft.renew(table: table, ports: ports, timeout: timeout)
    }
    @discardableResult public func remove(table: String) throws -> Bool { try nft.remove(table: table) }
    public func rules(in table: String) throws -> [InstalledRule] { try nft.rules(in: table) }
    public var fileDescriptor: Int32? { nft.fileDescriptor }
    public func closeAtOnce() { nft.closeAtOnce() }
}

/// One traffic-control and one nf_tables handle per network namespace a command touches.
final class Sockets {
    private var tcs: [String: TrafficControl] = [:]
    private var nfts: [String: NFTables] = [:]
    private func key(_ netns: NetworkNamespace?) -> String { netns.map { "\($0.path)#\($0.inode)" } ?? "" }
    func tc(_ netns: NetworkNamespace?) throws -> TrafficControl {
        if let t = tcs[key(netns)] { return t }
        let t = TrafficControl(socket: try NetlinkSocket.open(in: netns))
        tcs[key(netns)] = t
        return t
    }
    /// NETLINK_SOCK_DIAG, for the listening ports; nil where the kernel has no inet_diag.
    private var diags: [String: NetlinkSocket?] = [:]
    func diag(_ netns: NetworkNamespace?) -> NetlinkSocket? {
        if let d = diags[key(netns)] { return d }
        let d = try? Listeners.diagSocket(in: netns)
        diags[key(netns)] = d
        return d
    }
    /// For reading and waiting only: a lease's table can be changed only by its watchdog's socket.
    func nft(_ netns: NetworkNamespace?) throws -> NFTables {
        if let t = nfts[key(netns)] { return t }
        let t = try NFTables.open(in: netns)
        nfts[key(netns)] = t
        return t
    }
}

/// The kernel itself, through netlink: the code each call ran before the seam existed.
public final class SystemLeaseKernel: LeaseKernel {
    let sockets = Sockets()
    public init() {}

    public func links(in netns: NetworkNamespace?) throws -> [LinkInfo] { try sockets.tc(netns).nl.links() }
    public func routeDevice(to address: IPAddress, in netns: NetworkNamespace?) throws -> Int32? {
        try sockets.tc(netns).nl.routeDevice(to: address)
    }
    public func deviceState(_ device: String, in netns: NetworkNamespace?) throws -> DeviceState {
        var state = try sockets.tc(netns).state(of: device)
        let names = Dictionary(
            uniqueKeysWithValues: Ownership.leaseBands.map { (Claims.band(device: device, band: $0), $0) })
        state.claimed = Set(try Claims.held(Array(names.keys), in: netns).compactMap { names[$0] })
        return state
    }
    public func listeningPorts(in netns: NetworkNamespace?) throws -> Set<UInt16> {
        // One socket per namespace, kept: serve asks at every toxic.
        try Listeners.tcpPorts(in: netns, socket: sockets.diag(netns))
    }

    public func takeClaims(_ names: [String], in netns: NetworkNamespace?) throws -> [ClaimHandle] {
        try Claims.take(names, in: netns)
    }
    public func claimHolders(_ names: [String], in netns: NetworkNamespace?) throws -> [String: pid_t] {
        try Claims.holders(names, in: netns)
    }

    public func openTableOwner(in netns: NetworkNamespace?) throws -> TableOwner {
        NFTablesOwner(try NFTables.open(in: netns))
    }
    public func tables(in netns: NetworkNamespace?) throws -> [TableInfo] { try sockets.nft(netns).tableInfo() }
    public func rules(in table: String, netns: NetworkNamespace?) throws -> [InstalledRule] {
        try sockets.nft(netns).rules(in: table)
    }
    @discardableResult public func removeTable(_ table: String, in netns: NetworkNamespace?) throws -> Bool {
        try sockets.nft(netns).remove(table: table)
    }

    public func execute(
        _ steps: [TCStep], of plan: LeasePlan, distributionTable: [Int16]?, in netns: NetworkNamespace?
    ) throws {
        try sockets.tc(netns).execute(steps, of: plan, distributionTable: distributionTable)
    }
    public func revertBands(_ plan: LeasePlan, in netns: NetworkNamespace?) throws {
        try sockets.tc(netns).revert(plan)
    }
    public func readBack(_ plan: LeasePlan, in netns: NetworkNamespace?) throws -> [InstalledBand] {
        try sockets.tc(netns).readBack(plan)
    }
    public func marked(in netns: NetworkNamespace?) throws -> TrafficControl.Marked { try sockets.tc(netns).marked() }
    public func remove(_ object: OwnedObject, in netns: NetworkNamespace?) throws {
        try sockets.tc(netns).remove(object)
    }
}

/// This machine's process table, and the watchdog program.
public final class SystemProcesses: LeaseProcesses {
    public init() {}
    public func spawnWatchdog(
        executable: String, leaseID: String, logPath: String, entry: Int32, table: TableOwner?,
        claims: [ClaimHandle]
    ) throws -> (pid: pid_t, identity: ProcessIdentity?) {
        let pid = try WatchdogProcess.spawn(
            executable: executable, leaseID: leaseID, logPath: logPath, entry: entry,
            table: table?.fileDescriptor, claims: claims.map(\.fileDescriptor))
        return (pid, ProcessIdentity.of(pid: pid))
    }
    public func isAlive(_ process: ProcessIdentity) -> Bool { process.isAlive }
    public func signal(_ pid: pid_t, _ signal: Int32) { kill(pid, signal) }
    public func current() -> ProcessIdentity? { ProcessIdentity.current() }
    public func isWatchdog(pid: pid_t, of directory: URL) -> Bool {
        ProcessIdentity.isWatchdog(pid: pid, of: directory)
    }
}
