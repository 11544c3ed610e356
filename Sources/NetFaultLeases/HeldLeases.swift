import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

/// A lease that the process which applied it holds itself, with no journal entry and no
/// watchdog (`netfault serve`): its nf_tables table is owned by the holder's socket and its
/// bands by the holder's claims, so the kernel removes the table, and the next netfault command
/// the bands, when the holder dies. Its set elements expire unless the holder renews them: a
/// stopped holder's faults end within one timeout.
public final class HeldLease: @unchecked Sendable {
    public let id: String
    public let request: FaultRequest
    public let plan: LeasePlan
    let claims: [ClaimHandle]
    /// Where the table lives; nil when the lease has none.
    let tables: TableOwner?

    init(preview: LeasePreview, request: FaultRequest, claims: [ClaimHandle], tables: TableOwner?) {
        id = preview.id; self.request = request; plan = preview.plan; self.claims = claims; self.tables = tables
    }
}

extension LeaseManager {
    /// Pushes a held lease's end `timeout` from now.
    public func renew(_ lease: HeldLease, timeout: Duration) throws {
        guard let f = lease.plan.filter, let tables = lease.tables else { return }
        try tables.renew(table: f.table, ports: f.ports, timeout: timeout)
    }

    /// Removes a held lease: its table first (the faults end there), then its bands, under the
    /// journal's lock as every change of bands is. A lease without bands takes no lock: its
    /// table is its own socket's, which nothing else may change.
    public func release(_ lease: HeldLease) throws {
        if let f = lease.plan.filter { try lease.tables?.remove(table: f.table) }
        guard lease.plan.hasTrafficControl else { return }
        try journal.locked {
            do {
                try kernel.revertBands(lease.plan, in: lease.request.netns)
            } catch is NamespaceGone {}
            withExtendedLifetime(lease.claims) {}
        }
    }
}
