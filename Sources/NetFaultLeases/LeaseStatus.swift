import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

/// A lease with what the kernel holds for it right now.
public struct LeaseStatus: Sendable {
    public let lease: Lease
    public let installed: [InstalledBand]
    /// The rules of the lease's nf_tables table; nil when the lease has none, or its table is
    /// missing (`plan.filter` tells which).
    public let rules: [InstalledRule]?
    public let watchdogAlive: Bool
    /// Why the kernel objects were not read back (a namespace this process may not enter).
    public let notReadBack: String?
    public init(
        lease: Lease, installed: [InstalledBand], rules: [InstalledRule]?, watchdogAlive: Bool,
        notReadBack: String? = nil
    ) {
        self.lease = lease; self.installed = installed; self.rules = rules; self.watchdogAlive = watchdogAlive
        self.notReadBack = notReadBack
    }

    /// The lease's packets so far: what its netem qdiscs sent, and what its connection-fault
    /// rules counted (the rules that steer to a band count the band's packets again). nil when
    /// nothing was read back.
    public var packetsMatched: UInt64? {
        let bands = installed.compactMap(\.packets)
        let connection = (rules ?? []).filter { !$0.steers && $0.draws == nil }.map(\.packets)
        guard !bands.isEmpty || rules != nil else { return nil }
        return bands.reduce(0, +) + connection.reduce(0, +)
    }

    /// With --connections: how many new connections were drawn into the faults, and how many
    /// were left alone (the draws' counters). nil without draws or when nothing was read back.
    public var connectionsDrawn: (in: UInt64, out: UInt64)? {
        let draws = (rules ?? []).filter { $0.draws != nil }
        guard !draws.isEmpty else { return nil }
        let sum = { (into: Bool) in draws.filter { $0.draws == into }.map(\.packets).reduce(0, +) }
        return (sum(true), sum(false))
    }

    /// With a mix: each group, as the mix names it ("30%:reject"), with the connections it drew.
    public var connectionsDrawnGroups: [(group: String, drawn: UInt64)]? {
        guard let mix = lease.filter?.mix, let counts = connectionsDrawnByGroup else { return nil }
        return zip(mix.groups, counts).map { ("\($0.share):\($0.action.rawValue)", $1) }
    }

    /// With a mix: the connections each group drew, in the mix's order (its draws' counters,
    /// by the set each adds to). nil without a mix or when nothing was read back.
    public var connectionsDrawnByGroup: [UInt64]? {
        guard let mix = lease.filter?.mix, let rules else { return nil }
        var counts = [UInt64](repeating: 0, count: mix.groups.count)
        for r in rules {
            guard let set = r.drawnInto, let g = Ownership.shareSetGroup(set)?.group, g < counts.count else { continue }
            counts[g] &+= r.packets
        }
        return counts
    }
}

extension LeaseManager {
    func packetsMatched(_ id: String) -> UInt64? { countingStatus(id)?.packetsMatched }

    /// A lease in the journal with what the kernel counted for it (its watchdog not asked).
    func countingStatus(_ id: String) -> LeaseStatus? {
        guard let lease = journal.read(id) else { return nil }
        let installed = lease.plan.bands.isEmpty ? [] : (try? kernel.readBack(lease.plan, in: lease.netns)) ?? []
        let rules = try? readRules(lease)
        return LeaseStatus(lease: lease, installed: installed, rules: rules ?? nil, watchdogAlive: true)
    }

    /// The rules of a lease's table as the kernel holds them; nil without a table.
    func readRules(_ lease: Lease) throws -> [InstalledRule]? {
        guard let f = lease.plan.filter else { return nil }
        guard try kernel.tables(in: lease.netns).contains(where: { $0.name == f.table }) else { return nil }
        return try kernel.rules(in: f.table, netns: lease.netns)
    }

    /// Sweeps dead leases and unowned objects, then lists the live leases with their kernel
    /// objects, and what other netfaults hold here.
    /// `allNamespaces`: list the leases of every namespace, not only this one's.
    public func status(allNamespaces: Bool = false) throws -> StatusResult {
        try journal.locked {
            let swept = sweepLocked()
            let removed = try sweepOrphansLocked()
            let all = journal.all().filter { allNamespaces || $0.netns == namespace }
            let leases = try all.map { lease in
                var installed: [InstalledBand] = []
                var rules: [InstalledRule]?
                var notReadBack: String?
                do {
                    if !lease.plan.bands.isEmpty { installed = try kernel.readBack(lease.plan, in: lease.netns) }
                    rules = try readRules(lease)
                } catch is NamespaceGone {
                    // its namespace is gone, and its objects with it
                } catch let e as PermissionError {
                    // A --netns lease seen from a process without CAP_SYS_ADMIN: listed, not read.
                    notReadBack = "its namespace cannot be entered from here (\(e.reason))"
                }
                return LeaseStatus(
                    lease: lease, installed: installed, rules: rules,
                    watchdogAlive: lease.watchdog.map(processes.isAlive) ?? false, notReadBack: notReadBack)
            }
            let tables = try orphanTables().map { "nf_tables table inet \($0)" }
            return StatusResult(
                leases: leases, swept: swept, removed: removed, orphans: tables, others: try othersObjects())
        }
    }

    public struct StatusResult: Sendable {
        public let leases: [LeaseStatus]
        /// Leases whose watchdog was gone or late, reverted now.
        public let swept: [Swept]
        /// Objects that no live netfault owned, removed now.
        public let removed: [String]
        /// Objects with netfault's marks that only `revert --all` removes.
        public let orphans: [String]
        /// What other live netfaults (another journal or container) hold in this namespace.
        public let others: [String]
    }
}
