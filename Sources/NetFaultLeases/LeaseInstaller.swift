import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

/// Who holds an installed lease: what keeps its claims and its table alive, and ends it.
public enum LeaseHolder {
    /// A detached watchdog started for it, with a journal entry (`apply`, `run`, the matrix).
    /// `controller`: a process whose death ends the lease.
    case watchdog(executable: String, controller: ProcessIdentity?)
    /// This process (`netfault serve`), with no journal entry and no watchdog: `tables`, a
    /// socket it keeps open, owns the table, whose set elements expire after `timeout` unless
    /// renewed.
    case process(tables: TableOwner?, timeout: Duration)
}

/// What an install made so far, for the rollback of a failed one.
struct InstallParts {
    var claims: [ClaimHandle] = []
    var table: TableOwner?
    var tableMade = false
}

/// An installed lease, as its holder keeps it: a status for a watchdog's, the lease itself for
/// one this process holds (each `install` fills the one its holder asked for).
struct Installed {
    var status: LeaseStatus?
    var held: HeldLease?
}

extension LeaseManager {
    /// Installs a lease for `holder`: plan, (journal), claims, table, tc steps, (watchdog,
    /// read-back). A lease held by this process skips the journal, the sweep of dead leases and
    /// the read-back: serve's fast path.
    func install(_ request: FaultRequest, policy: LeasePolicy, holder: LeaseHolder) throws -> Installed {
        if case .process(let tables, let timeout) = holder, request.netem.isEmpty {
            return Installed(held: try holdConnectionFaults(request, policy: policy, tables: tables, timeout: timeout))
        }
        let distribution = try request.netem.distribution.map(DistributionTables.load)
        return try journal.locked {
            if case .watchdog = holder { sweepLocked() }
            if request.netns == namespace { _ = try? sweepOrphansLocked() }
            try LeaseConflicts.check(request, with: journal.all())
            let preview = try previewLocked(request, policy: policy)
            switch holder {
            case .process(let tables, let timeout):
                let parts = try installParts(
                    preview, request: request, distribution: distribution, table: tables, timeout: timeout,
                    lots: LeaseLimits.maximumDuration,
                    rollback: { parts in self.rollbackHeld(&parts, preview.plan, request.netns) })
                let held = HeldLease(preview: preview, request: request, claims: parts.claims, tables: tables)
                return Installed(held: held)
            case .watchdog(let executable, let controller):
                return Installed(
                    status: try installWatched(
                        preview, request: request, distribution: distribution, executable: executable,
                        controller: controller))
            }
        }
    }

    /// A held lease of connection faults only (serve's toggle): one table through `tables`,
    /// made in one batch. It has no bands, so there is nothing to plan against the claims of
    /// other netfaults, no orphan band to sweep first and no journal lock to take: the lock
    /// orders band planning, and this lease plans none. The kernel keeps it safe without the
    /// journal: the table is owned by `tables` (gone when this process dies, SIGKILL included)
    /// and its elements expire unless renewed. The journal is still read, without its lock, so
    /// that a lease in force on the same packets refuses it as before.
    func holdConnectionFaults(
        _ request: FaultRequest, policy: LeasePolicy, tables: TableOwner?, timeout: Duration
    ) throws -> HeldLease {
        try LeaseConflicts.check(request, with: journal.all())
        let server = try request.serverLocation(listening: { try kernel.listeningPorts(in: request.netns) })
        var id = Lease.newID()
        while journal.exists(id) { id = Lease.newID() }
        let preview = try LeasePlanner.preview(
            request, policy: policy, snapshot: LeaseSnapshot(server: server, device: nil), id: id)
        let parts = try installParts(
            preview, request: request, distribution: nil, table: tables, timeout: timeout,
            lots: LeaseLimits.maximumDuration,
            rollback: { parts in self.rollbackHeld(&parts, preview.plan, request.netns) })
        return HeldLease(preview: preview, request: request, claims: parts.claims, tables: tables)
    }

    /// Claims the bands, makes the table through `table` (or, with `ownTable`, through a socket
    /// of its own, which the watchdog inherits), runs the tc steps and `then`; on any failure,
    /// `rollback` undoes what `parts` says was made.
    func installParts(
        _ preview: Preview, request: FaultRequest, distribution: [Int16]?, table: TableOwner?, timeout: Duration,
        lots: Duration? = nil, ownTable: Bool = false, rollback: (inout InstallParts) -> Void,
        then: (inout InstallParts) throws -> Void = { _ in }
    ) throws -> InstallParts {
        let plan = preview.plan
        var parts = InstallParts()
        do {
            parts.claims = try kernel.takeClaims(plan.claimNames, in: request.netns)
            if let filter = plan.filter {
                if ownTable {
                    parts.table = try kernel.openTableOwner(in: request.netns)
                } else {
                    guard let table else {
                        throw Unavailable("this lease needs nf_tables, and no netfilter socket was given")
                    }
                    parts.table = table
                }
                try parts.table!.install(filter, timeout: timeout, lots: lots)
                parts.tableMade = true
            }
            if !request.netem.isEmpty {
                try kernel.execute(preview.steps, of: plan, distributionTable: distribution, in: request.netns)
            }
            try then(&parts)
        } catch {
            rollback(&parts)
            throw error
        }
        return parts
    }

    /// Undoes a held lease's failed install: its table (the socket stays open, so it must be
    /// deleted), then its bands; its claims go with `parts`.
    func rollbackHeld(_ parts: inout InstallParts, _ plan: LeasePlan, _ netns: NetworkNamespace?) {
        if parts.tableMade, let f = plan.filter { _ = try? parts.table?.remove(table: f.table) }
        if plan.hasTrafficControl { try? kernel.revertBands(plan, in: netns) }
        parts.claims = []
    }

    /// The lease as the journal records it before the kernel changes.
    func journalled(_ preview: Preview, _ request: FaultRequest, controller: ProcessIdentity?) -> Lease {
        let now = Date()
        // Until the state is `installed`, this process is the installer: if it is killed
        // half-way, the watchdog sees it gone and reverts the partial install.
        // A scope or a share alone (netem faults for some connections) is kept: status shows it,
        // and the revert ends run --scope command's cgroup by it.
        let f = request.filter
        let filter = f.isEmpty && f.scope == nil && f.connections == nil ? nil : f
        var lease = Lease(
            id: preview.id, target: request.target, direction: request.direction, netem: request.netem, filter: filter,
            peers: request.peers.isEmpty ? nil : request.peers, device: preview.device, plan: preview.plan,
            created: now, deadline: now.addingTimeInterval(request.duration.seconds),
            controller: controller, netns: request.netns, server: preview.server,
            state: .journalled, installer: processes.current())
        lease.setMonotonicDeadline(in: request.duration.seconds)
        return lease
    }

    /// A lease with a watchdog: journalled first; this process claims the bands and makes the
    /// table (owned by its socket), installs the bands and passes claims and table to the
    /// watchdog, which holds them from then on. A band is never in the kernel without a live
    /// owner that every netfault can see: this process, then the watchdog.
    func installWatched(
        _ preview: Preview, request: FaultRequest, distribution: [Int16]?, executable: String,
        controller: ProcessIdentity?
    ) throws -> LeaseStatus {
        var lease = journalled(preview, request, controller: controller)
        let id = lease.id
        try journal.write(lease)  // before the kernel changes
        let parts = try installParts(
            preview, request: request, distribution: distribution, table: nil,
            timeout: Duration(nanoseconds: Int64(lease.timeLeft() * 1e9)), ownTable: true,
            rollback: { parts in
                parts.table?.closeAtOnce()
                parts.table = nil  // the table goes with the last holder of its socket
                parts.claims = []
                _ = try? self.revertLocked(id: id)  // whatever part went in, and the watchdog
            },
            then: { parts in
                try self.startWatchdog(&lease, parts: &parts, executable: executable)
            })
        return readBack(lease, table: parts.table)
    }

    /// Starts the watchdog, hands it the claims and the table, and records it: the lease is
    /// then installed.
    func startWatchdog(_ lease: inout Lease, parts: inout InstallParts, executable: String) throws {
        let entry = try journal.openEntry(lease.id)
        defer { close(entry) }
        let (pid, identity) = try processes.spawnWatchdog(
            executable: executable, leaseID: lease.id,
            logPath: journal.directory.appendingPathComponent("watchdog.log").path, entry: entry,
            table: parts.table, claims: parts.claims)
        parts.table?.closeAtOnce()
        parts.claims = []  // the watchdog's copies hold the names now
        guard let identity else {
            throw ProcessError("the watchdog (pid \(pid)) exited at once; see \(journal.directory.path)/watchdog.log")
        }
        lease.watchdog = identity
        lease.state = .installed
        try journal.write(lease)
    }

    /// The faults are in force and held: a failure to read them back is reported with them,
    /// not as a failed apply that would leave them in place.
    func readBack(_ lease: Lease, table: TableOwner?) -> LeaseStatus {
        do {
            let rules = try table.map { try $0.rules(in: lease.plan.filter!.table) } ?? readRules(lease)
            let installed = lease.netem.isEmpty ? [] : try kernel.readBack(lease.plan, in: lease.netns)
            return LeaseStatus(lease: lease, installed: installed, rules: rules, watchdogAlive: true)
        } catch {
            return LeaseStatus(
                lease: lease, installed: [], rules: nil, watchdogAlive: true,
                notReadBack: "reading them back failed: \(error)")
        }
    }
}
