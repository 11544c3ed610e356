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
    let claims: [Claim]
    /// Where the table lives; nil when the lease has none.
    let tables: NFTables?

    init(preview: LeaseManager.Preview, request: FaultRequest, claims: [Claim], tables: NFTables?) {
        id = preview.id; self.request = request; plan = preview.plan; self.claims = claims; self.tables = tables
    }
}

extension LeaseManager {
    /// Installs `request` as a lease this process holds: bands claimed, table created through
    /// `tables` (a netfilter socket this process keeps open: it owns every table it creates),
    /// whose set elements expire after `timeout` unless renewed. Planned under the journal's
    /// lock, against the leases of the journal and the claims of every other netfault.
    public func hold(_ request: FaultRequest, tables: NFTables?, timeout: Duration) throws -> HeldLease {
        let distribution = try request.netem.distribution.map(DistributionTables.load)
        let tc = request.netem.isEmpty ? nil : try sockets.tc(request.netns)
        return try journal.locked {
            if request.netns == namespace { _ = try? sweepOrphansLocked() }
            try checkConflicts(request)
            let preview = try previewLocked(request)
            let plan = preview.plan
            var claims: [Claim] = []
            var tableMade = false
            do {
                claims = try Claims.take(
                    plan.claimNames, in: request.netns)
                if let filter = plan.filter {
                    guard let tables else {
                        throw Unavailable("this lease needs nf_tables, and no netfilter socket was given")
                    }
                    try tables.install(filter, timeout: timeout)
                    tableMade = true
                }
                try tc?.execute(preview.steps, of: plan, distributionTable: distribution)
            } catch {
                if tableMade, let f = plan.filter { _ = try? tables?.remove(table: f.table) }
                if plan.hasTrafficControl { try? tc?.revert(plan) }
                throw error
            }
            return HeldLease(preview: preview, request: request, claims: claims, tables: tables)
        }
    }

    /// Pushes a held lease's end `timeout` from now.
    public func renew(_ lease: HeldLease, timeout: Duration) throws {
        guard let f = lease.plan.filter, let tables = lease.tables else { return }
        try tables.renew(table: f.table, ports: f.ports, timeout: timeout)
    }

    /// Removes a held lease: its table first (the faults end there), then its bands.
    public func release(_ lease: HeldLease) throws {
        try journal.locked {
            if let f = lease.plan.filter { try lease.tables?.remove(table: f.table) }
            do {
                if lease.plan.hasTrafficControl {
                    try sockets.tc(lease.request.netns).revert(lease.plan)
                }
            } catch is NamespaceGone {}
            withExtendedLifetime(lease.claims) {}
        }
    }
}
