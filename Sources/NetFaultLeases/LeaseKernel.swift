import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

// The seam of the lease life cycle: everything it asks of the kernel and of the process table,
// so that apply, revert, sweep and recovery can run against a recording fake in unit tests.
// The real implementations (SystemLeaseKernel, SystemProcesses) wrap the kernel code as is.

/// A held claim on a name (a band of a device): the kernel frees the name when the last
/// descriptor of its socket closes, that is when its holder dies.
public protocol ClaimHandle: AnyObject {
    var name: String { get }
    var fileDescriptor: Int32 { get }
}

/// A netfilter socket that owns the tables it creates: the kernel deletes them with it.
public protocol TableOwner: AnyObject {
    /// `lots`: how long a --connections draw is remembered, when not `timeout` (a held lease's
    /// timeout is short and renewed, and a connection must keep its lot for its life).
    func install(_ plan: FilterPlan, timeout: Duration, lots: Duration?) throws
    func renew(table: String, ports: [UInt16], timeout: Duration) throws
    @discardableResult func remove(table: String) throws -> Bool
    func rules(in table: String) throws -> [InstalledRule]
    /// The socket's descriptor, to pass to the watchdog; nil once closed.
    var fileDescriptor: Int32? { get }
    /// Closing this process's copy must not wait for the kernel (the watchdog has its own).
    func closeAtOnce()
}

/// What the lease life cycle asks of the kernel, per network namespace (nil: this process's).
public protocol LeaseKernel: AnyObject {
    // The snapshot a plan is made from.
    func links(in netns: NetworkNamespace?) throws -> [LinkInfo]
    func routeDevice(to address: IPAddress, in netns: NetworkNamespace?) throws -> Int32?
    /// A device's traffic-control state, with the bands a live netfault claims on it.
    func deviceState(_ device: String, in netns: NetworkNamespace?) throws -> DeviceState
    func listeningPorts(in netns: NetworkNamespace?) throws -> Set<UInt16>

    // Claims.
    func takeClaims(_ names: [String], in netns: NetworkNamespace?) throws -> [ClaimHandle]
    /// The holder of each name that is held (0: a process this one cannot see).
    func claimHolders(_ names: [String], in netns: NetworkNamespace?) throws -> [String: pid_t]

    // nf_tables.
    /// A new socket owning the tables it creates (the lease's own, passed to its watchdog).
    func openTableOwner(in netns: NetworkNamespace?) throws -> TableOwner
    func tables(in netns: NetworkNamespace?) throws -> [TableInfo]
    func rules(in table: String, netns: NetworkNamespace?) throws -> [InstalledRule]
    /// Removes a table through a socket that does not own it (only unowned tables go).
    @discardableResult func removeTable(_ table: String, in netns: NetworkNamespace?) throws -> Bool

    // Traffic control.
    func execute(
        _ steps: [TCStep], of plan: LeasePlan, distributionTable: [Int16]?, in netns: NetworkNamespace?) throws
    func revertBands(_ plan: LeasePlan, in netns: NetworkNamespace?) throws
    func readBack(_ plan: LeasePlan, in netns: NetworkNamespace?) throws -> [InstalledBand]
    func marked(in netns: NetworkNamespace?) throws -> TrafficControl.Marked
    func remove(_ object: OwnedObject, in netns: NetworkNamespace?) throws
}

/// What the lease life cycle asks of the process table: watchdogs and liveness.
public protocol LeaseProcesses: AnyObject {
    /// Starts a lease's watchdog, passing it the entry, the table's owner and the claims, and
    /// returns its identity; nil when it exited at once.
    func spawnWatchdog(
        executable: String, leaseID: String, logPath: String, entry: Int32, table: TableOwner?,
        claims: [ClaimHandle]
    ) throws -> (pid: pid_t, identity: ProcessIdentity?)
    func isAlive(_ process: ProcessIdentity) -> Bool
    func signal(_ pid: pid_t, _ signal: Int32)
    func current() -> ProcessIdentity?
    func isWatchdog(pid: pid_t, of directory: URL) -> Bool
}
