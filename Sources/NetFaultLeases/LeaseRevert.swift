import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

// Reverting leases: one by id, several, and the watchdog's own revert.
extension LeaseManager {

    /// What a revert found a lease had done: packets matched (nil: not in the journal, or
    /// nothing could be read back) and, with --connections, the connections drawn in and out.
    public struct RevertCounts: Sendable {
        public var reverted: Bool
        public var matched: UInt64?
        public var drawn: (in: UInt64, out: UInt64)?
        /// With a mix: the connections each group drew (LeaseStatus.connectionsDrawnGroups).
        public var drawnGroups: [(group: String, drawn: UInt64)]?
    }

    /// Reverts one lease and says how many packets it matched and connections it drew.
    public func revertCounting(id: String) throws -> RevertCounts {
        try journal.locked { try revertCountingLocked(id: id) }
    }

    /// The counts are read first: the revert removes what holds them.
    func revertCountingLocked(id: String) throws -> RevertCounts {
        let counted = countingStatus(id)
        return RevertCounts(
            reverted: try revertLocked(id: id), matched: counted?.packetsMatched, drawn: counted?.connectionsDrawn,
            drawnGroups: counted?.connectionsDrawnGroups)
    }

    /// The packets a lease in the journal has matched so far, read from the kernel.
    public func packetsMatched(id: String) -> UInt64? { (try? journal.locked { packetsMatched(id) }) ?? nil }


    /// Reverts one lease; a lease not in the journal is already reverted. `fallback` is the
    /// watchdog's own copy, used when the journal entry exists but can no longer be read.
    @discardableResult
    public func revert(id: String) throws -> Bool {
        try journal.locked { try revertLocked(id: id) }
    }

    /// The watchdog's own revert: as `revert`, from its copy of the lease when the entry can no
    /// longer be read, and without signalling itself.
    @discardableResult
    public func revertAsWatchdog(_ lease: Lease) throws -> Bool {
        try journal.locked { try revertLocked(id: lease.id, fallback: lease, byWatchdog: true) }
    }

    func revertLocked(id: String, fallback: Lease? = nil, byWatchdog: Bool = false) throws -> Bool {
        guard var lease = journal.read(id) ?? (journal.exists(id) ? fallback : nil) else { return false }
        // Recorded first: a revert that dies half-way leaves an entry that says so, and the
        // next sweep finishes it (its watchdog is gone by then, or finishes it itself).
        lease.state = .reverting
        try? journal.write(lease)
        do {
            if lease.plan.hasTrafficControl {
                try kernel.revertBands(lease.plan, in: lease.netns)
            }
        } catch is NamespaceGone {
            // The namespace is gone, and its devices and qdiscs with it.
        }
        try journal.remove(id)
        if !byWatchdog, let w = lease.watchdog {
            if processes.isAlive(w) {
                // It removes its table; its own revert then finds nothing left. SIGCONT: a stopped
                // watchdog would otherwise hold the SIGTERM pending, and this revert wait 3s for it.
                processes.signal(w.pid, SIGTERM)
                processes.signal(w.pid, SIGCONT)
            }
            try awaitTableGone(lease)
        }
        // run --scope command's cgroup goes with the lease: its processes ended, the cgroup removed.
        if case .cgroup(let c)? = lease.filter?.scope, c.madeForRun == true { RunCgroup.end(c) }
        return true
    }

    /// Waits until a lease's table is gone. Only its watchdog's socket may delete it; a watchdog
    /// that does not within 3s is killed, and the kernel deletes the table with its socket.
    func awaitTableGone(_ lease: Lease) throws {
        guard let f = lease.plan.filter else { return }
        let netns = lease.netns
        func gone(within seconds: Double) throws -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while true {
                if try !kernel.tables(in: netns).contains(where: { $0.name == f.table }) { return true }
                if Date() >= end { return false }
                // The watchdog deletes its table within a millisecond of SIGTERM; a listing
                // costs tens of microseconds, so look often rather than oversleep.
                usleep(200)
            }
        }
        // The first listing opens the namespace's socket: a namespace gone took the table along.
        do { if try gone(within: 3) { return } } catch is NamespaceGone { return }
        if let w = lease.watchdog, processes.isAlive(w) { processes.signal(w.pid, SIGKILL) }
        if try gone(within: 2) { return }
        do {
            // A table without an owner (never made so by netfault).
            if try kernel.removeTable(f.table, in: netns) { return }
        } catch let e as KernelError where e.errno == EPERM {
            // Owned by a process that is not the watchdog we know: leave it, and say so.
        }
        throw KernelError(
            operation: "removing nf_tables table \(f.table) of lease \(lease.id)", errno: EBUSY,
            extendedAck: "the process that owns it did not let it go")
    }

    /// What a revert did.
    public struct RevertResult: Sendable {
        public var reverted: [String] = []
        /// Packets each reverted lease matched, read just before it was removed.
        public var matched: [String: UInt64] = [:]
        public var unknown: [String] = []
        /// Leases whose watchdog was gone or late, reverted before the ones asked for.
        public var swept: [Swept] = []
        /// Objects with netfault's marks that no lease in the journal accounted for.
        public var orphans: [String] = []
        /// With --connections: the connections each reverted lease drew into its faults and out.
        public var drawn: [String: (in: UInt64, out: UInt64)] = [:]
        /// With a mix: the connections each group of each reverted lease drew.
        public var drawnGroups: [String: [(group: String, drawn: UInt64)]] = [:]
    }

    /// Reverts the given leases. With `ids` nil (revert --all) it then removes every object
    /// carrying netfault's marks, so a deleted or corrupted journal still leaves nothing behind.
    /// `allNamespaces`: with `ids` nil, every lease in the journal, not only this namespace's.
    public func revert(ids: [String]?, allNamespaces: Bool = false) throws -> RevertResult {
        try journal.locked {
            var result = RevertResult()
            // Leases whose watchdog is gone first, whichever were named.
            result.swept = sweepLocked()
            for id in ids ?? journal.all().filter({ allNamespaces || $0.netns == namespace }).map(\.id) {
                let counts = try revertCountingLocked(id: id)
                if counts.reverted {
                    result.reverted.append(id)
                    result.matched[id] = counts.matched
                    result.drawn[id] = counts.drawn
                    result.drawnGroups[id] = counts.drawnGroups
                } else {
                    result.unknown.append(id)
                }
            }
            if ids == nil {
                for id in journal.unreadable() {
                    try journal.remove(id)
                    result.orphans.append("unreadable journal entry \(id)")
                }
                try awaitOwnWatchdogsGone()
                result.orphans += try sweepOrphansLocked()
                result.orphans += try removeOrphanTables()
            }
            return result
        }
    }
}
