import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

// Sweeping: leases whose watchdog is gone or late, and objects with netfault's marks that no
// live netfault owns.
extension LeaseManager {

    /// What every command does first (doctor too): reverts leases whose watchdog is gone and
    /// removes what no live netfault owns in this namespace. Returns what it did.
    public func sweep() throws -> (swept: [Swept], removed: [String]) {
        try journal.locked { (sweepLocked(), try sweepOrphansLocked()) }
    }

    /// netfault's objects in this command's namespace, and which of them a live netfault owns:
    /// a claim held in the namespace (any container's), or a lease of this journal.
    func namespaceObjects() throws -> (marked: TrafficControl.Marked, live: Liveness, holders: [String: pid_t]) {
        let marked = try kernel.marked(in: namespace)
        let holders = try kernel.claimHolders(marked.claimNames, in: namespace)
        var live = Liveness()
        for d in Set(marked.claimNames.compactMap(Self.bandKey))
        where holders[Claims.band(device: d.device, band: d.band)] != nil {
            live.bands.insert(d)
        }
        for lease in journal.all() where lease.netns == namespace {
            for b in lease.plan.bands { live.bands.insert(Liveness.BandKey(b.device, b.band)) }
        }
        live.probeDevices = Set(marked.probeDevices.map(\.name).filter { holders[Claims.probe(device: $0)] != nil })
        return (marked, live, holders)
    }

    static func bandKey(_ claimName: String) -> Liveness.BandKey? {
        let parts = claimName.split(separator: "/")
        guard parts.count == 4, parts[1] == "band", let b = UInt16(parts[3]) else { return nil }
        return Liveness.BandKey(String(parts[2]), b)
    }

    /// Removes what no live netfault owns in this namespace: what a killed container or a lost
    /// journal left. Every command does this, so the next one in the namespace cleans up.
    func sweepOrphansLocked() throws -> [String] {
        let (marked, live, _) = try namespaceObjects()
        return try marked.orphans(live: live).map { obj in
            try kernel.remove(obj, in: namespace)
            return obj.description
        }
    }

    /// A watchdog of this pid namespace whose journal entry is gone (deleted by hand, or found
    /// unreadable by revert --all) reverts its own bands and exits within half a second.
    func awaitOwnWatchdogsGone() throws {
        let known = Set(journal.all().compactMap { $0.watchdog?.pid })
        let end = Date().addingTimeInterval(2)
        while Date() < end {
            let holders = try namespaceObjects().holders.values
            guard
                holders.contains(where: {
                    $0 > 0 && !known.contains($0) && processes.isWatchdog(pid: $0, of: journal.directory)
                })
            else { return }
            usleep(50_000)
        }
    }

    /// What other live netfaults (another journal, another container) hold in this namespace.
    func othersObjects() throws -> [String] {
        let (_, _, holders) = try namespaceObjects()
        let mine = Set(journal.all().filter { $0.netns == namespace }.flatMap(\.plan.claimNames))
        let bands = holders.filter { !mine.contains($0.key) && Self.bandKey($0.key) != nil }.sorted { $0.key < $1.key }
            .map { name, pid in
                let k = Self.bandKey(name)!
                return "\(k.device): netem band \(k.band), held by "
                    + (pid > 0 ? "netfault process \(pid)" : "a netfault in another container")
            }
        let known = Set(journal.all().compactMap { $0.netns == namespace ? $0.plan.filter?.table : nil })
        let tables = try tablesHere()
            .filter { $0.owned && Ownership.leaseID(ofTable: $0.name) != nil && !known.contains($0.name) }
            .map { "nf_tables table inet \($0.name), owned by another live netfault (a watchdog, or netfault serve)" }
        return bands + tables
    }

    /// netfault tables in this namespace that nothing owns and no lease in the journal accounts
    /// for (netfault makes owner tables, which die with their watchdog, so these are made by
    /// hand or by a kernel without owner tables); none where the kernel has no nf_tables.
    func orphanTables() throws -> [String] {
        let known = Set(journal.all().compactMap { $0.netns == namespace ? $0.plan.filter?.table : nil })
        return try tablesHere().filter {
            !$0.owned && Ownership.leaseID(ofTable: $0.name) != nil && !known.contains($0.name)
        }.map(\.name)
    }

    /// The inet tables in this command's namespace; none where the kernel has no nf_tables
    /// (user-mode Linux), since none can have been made there.
    func tablesHere() throws -> [TableInfo] {
        do {
            return try kernel.tables(in: namespace)
        } catch let e as KernelError where [EPROTONOSUPPORT, EOPNOTSUPP, EAFNOSUPPORT].contains(e.errno) {
            return []
        }
    }

    /// Removes the orphan tables, if their owner allows.
    func removeOrphanTables() throws -> [String] {
        let left = try orphanTables()
        guard !left.isEmpty else { return [] }
        return try left.map { table in
            do {
                try kernel.removeTable(table, in: namespace)
                return "nf_tables table inet \(table)"
            } catch let e as KernelError where e.errno == EPERM {
                return "nf_tables table inet \(table): owned by a live process, not removed (\(e))"
            }
        }
    }

    /// A lease a sweep reverted, and why.
    public struct Swept: Sendable, Equatable {
        public let id: String
        public let reason: String
    }

    /// How late a live watchdog may be before a sweep takes it for stopped or starved.
    static let watchdogGrace: TimeInterval = 1

    /// Reverts leases whose watchdog is gone (killed, or the machine's pid space moved on), or
    /// missed the deadline by more than a second (stopped, starved): that one is killed first,
    /// so its band claims and its table go with it.
    @discardableResult
    func sweepLocked() -> [Swept] {
        var swept: [Swept] = []
        for lease in journal.all() {
            let reason: String
            if let w = lease.watchdog, processes.isAlive(w) {
                let late = lease.overdue()
                guard late > Self.watchdogGrace else { continue }
                processes.signal(w.pid, SIGKILL)
                let end = Date().addingTimeInterval(2)
                while processes.isAlive(w) && Date() < end { usleep(10_000) }
                reason =
                    "its watchdog (pid \(w.pid)) missed the deadline by \(late.fixed(1))s (stopped or starved) "
                    + "and was killed"
            } else {
                reason = "its watchdog was gone"
            }
            if (try? revertLocked(id: lease.id)) == true { swept.append(Swept(id: lease.id, reason: reason)) }
        }
        return swept
    }
}
