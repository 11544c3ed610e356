import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

/// Apply, hold, status, revert and sweep, each under the journal's lock. This is the facade:
/// the planner (LeasePlanner), the installer (LeaseInstaller), the reverter (LeaseRevert), the
/// sweeper (LeaseSweeper) and the status reader (LeaseStatus) each live in their own file, and
/// reach the kernel and the process table only through `kernel` and `processes`.
public final class LeaseManager {
    public let journal: Journal
    /// The namespace this command works in (--netns): where `revert --all` and `status` look
    /// for objects with netfault's marks. Leases in other namespaces are reverted in their own.
    public let namespace: NetworkNamespace?
    let kernel: LeaseKernel
    let processes: LeaseProcesses

    public init(
        journal: Journal, namespace: NetworkNamespace? = nil, kernel: LeaseKernel = SystemLeaseKernel(),
        processes: LeaseProcesses = SystemProcesses()
    ) {
        self.journal = journal; self.namespace = namespace; self.kernel = kernel; self.processes = processes
    }

    public typealias Preview = LeasePreview

    /// Installs a lease: plan, journal, watchdog, kernel, read-back. The netem part is installed
    /// here; the netfilter part by the watchdog, whose socket owns the table.
    /// - Parameter controller: a process whose death ends the lease (`netfault run`). Without
    ///   one, the lease is bound to this process only until it is fully installed.
    public func apply(
        _ request: FaultRequest, policy: LeasePolicy, executable: String, controller: ProcessIdentity? = nil
    ) throws -> LeaseStatus {
        // A netfault in another container that shares the namespace plans from the same kernel
        // state under another journal's lock; when both pick one band, one claim wins and the
        // other apply plans again.
        try retryingRaces {
            try install(request, policy: policy, holder: .watchdog(executable: executable, controller: controller))
                .status!
        }
    }

    /// Runs `body` up to three times while it loses a race to another netfault.
    func retryingRaces<T>(_ body: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try body()
            } catch let e as ClaimTaken {
                guard attempt < 3 else { throw e }
                attempt += 1
                usleep(useconds_t(UInt32.random(in: 10_000...50_000)))
            } catch let e as KernelError where e.errno == EEXIST && e.source == .kernel {
                // Another netfault made a root, an ifb or an ingress since the snapshot: plan again.
                guard attempt < 3 else { throw e }
                attempt += 1
            }
        }
    }

    /// Installs `request` as a lease this process holds: bands claimed, table created through
    /// `tables` (a netfilter socket this process keeps open: it owns every table it creates),
    /// whose set elements expire after `timeout` unless renewed. Planned under the journal's
    /// lock, against the leases of the journal and the claims of every other netfault.
    public func hold(
        _ request: FaultRequest, policy: LeasePolicy, tables: NFTables?, timeout: Duration
    ) throws -> HeldLease {
        try install(request, policy: policy, holder: .process(tables: tables.map(NFTablesOwner.init), timeout: timeout))
            .held!
    }

    /// What `apply` would do, changing nothing: no journal entry, no watchdog, no kernel change.
    public func preview(_ request: FaultRequest, policy: LeasePolicy) throws -> Preview {
        try journal.locked {
            try LeaseConflicts.check(request, with: journal.all())
            return try previewLocked(request, policy: policy)
        }
    }

    /// Plans from a fresh snapshot, under a lease id no entry of the journal has.
    func previewLocked(_ request: FaultRequest, policy: LeasePolicy) throws -> Preview {
        let snapshot = try LeaseSnapshot.take(request, kernel: kernel)
        var id = Lease.newID()
        while journal.exists(id) { id = Lease.newID() }
        return try LeasePlanner.preview(request, policy: policy, snapshot: snapshot, id: id)
    }
}
