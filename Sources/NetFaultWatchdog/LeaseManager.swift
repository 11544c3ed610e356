import Foundation
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

    public init(target: Target, direction: Direction, netem: NetemSpec, filter: FilterSpec = FilterSpec(),
                peers: [IPPrefix] = [], device: String?, duration: Duration, netns: NetworkNamespace? = nil) {
        self.target = target; self.direction = direction; self.netem = netem; self.filter = filter
        self.peers = peers; self.device = device; self.duration = duration; self.netns = netns
    }

    var scope: FaultScope {
        FaultScope(target: target, peers: peers, direction: direction, netem: netem, filter: filter)
    }
}

/// A lease with what the kernel holds for it right now.
public struct LeaseStatus: Sendable {
    public let lease: Lease
    public let installed: [InstalledBand]
    /// The rules of the lease's nf_tables table; nil when the lease has none, or its table is
    /// missing (`plan.filter` tells which).
    public let rules: [InstalledRule]?
    public let watchdogAlive: Bool
    public init(lease: Lease, installed: [InstalledBand], rules: [InstalledRule]?, watchdogAlive: Bool) {
        self.lease = lease; self.installed = installed; self.rules = rules; self.watchdogAlive = watchdogAlive
    }
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
    /// For reading and waiting only: a lease's table can be changed only by its watchdog's socket.
    func nft(_ netns: NetworkNamespace?) throws -> NFTables {
        if let t = nfts[key(netns)] { return t }
        let t = try NFTables.open(in: netns)
        nfts[key(netns)] = t
        return t
    }
}

/// Apply, status and revert: journal first, then kernel, all under the journal's lock.
public final class LeaseManager {
    public let journal: Journal
    /// The namespace this command works in (--netns): where `revert --all` and `status` look
    /// for objects with netfault's marks. Leases in other namespaces are reverted in their own.
    public let namespace: NetworkNamespace?
    let sockets = Sockets()
    public init(journal: Journal, namespace: NetworkNamespace? = nil) { self.journal = journal; self.namespace = namespace }

    /// The device a request's traffic leaves through, checked to exist.
    static func resolveDevice(_ request: FaultRequest, nl: NetlinkSocket) throws -> LinkInfo {
        let links = try nl.links()
        if let name = request.device {
            guard let l = links.first(where: { $0.name == name }) else {
                throw InputError("unknown interface '\(name)'; this host has: \(links.map(\.name).joined(separator: ", "))")
            }
            return l
        }
        // The server's address, or each --peer block's: all must leave through one device.
        let addresses = request.target.addressBlocks(peers: request.peers).map(\.address)
        var routed: [(IPAddress, LinkInfo)] = []
        for a in addresses {
            let noRoute = InputError("no route to \(request.target.host != nil ? "--host" : "--peer") \(a); give --iface explicitly")
            let idx: Int32?
            do { idx = try nl.routeDevice(to: a) } catch let e as KernelError where [ENETUNREACH, EHOSTUNREACH].contains(e.errno) {
                throw noRoute
            }
            guard let idx, let l = links.first(where: { $0.index == idx }) else { throw noRoute }
            routed.append((a, l))
        }
        if let first = routed.first {
            if let other = routed.first(where: { $0.1.index != first.1.index }) {
                throw InputError("--peer \(first.0) routes through \(first.1.name) but \(other.0) through \(other.1.name); give --iface, or one lease per device")
            }
            return first.1
        }
        guard let lo = links.first(where: \.isLoopback) else { throw InputError("no loopback device here; give --iface") }
        return lo
    }

    /// Refuses a lease that would put a second fault of the same kind on the same packets
    /// as a lease in force: only one of them could act, and which one would be an accident.
    func checkConflicts(_ request: FaultRequest) throws {
        let mine = request.scope
        for other in journal.all() where other.netns == request.netns {
            let theirs = FaultScope(target: other.target, peers: other.peers ?? [], direction: other.direction,
                                    netem: other.netem, filter: other.filter ?? FilterSpec())
            let kinds = mine.conflicts(with: theirs)
            guard !kinds.isEmpty else { continue }
            let ports = Set(request.target.ports).intersection(other.target.ports).sorted().map(String.init).joined(separator: ",")
            let kind = kinds.contains(.netem) ? "netem" : "netfilter"
            throw PlanConflict("lease \(other.id) already puts \(kind) faults (\(other.summary)) on port \(ports) \(other.direction.rawValue); one packet gets one \(kind) fault. Revert it first (netfault revert \(other.id)), or choose another port, --direction or --host")
        }
    }

    /// Installs a lease: plan, journal, watchdog, kernel, read-back. The netem part is installed
    /// here; the netfilter part by the watchdog, whose socket owns the table, and this waits
    /// until the watchdog says it is in place.
    /// - Parameter controller: a process whose death ends the lease (`netfault run`). Without
    ///   one, the lease is bound to this process only until it is fully installed.
    public func apply(_ request: FaultRequest, executable: String, controller: ProcessIdentity? = nil) throws -> LeaseStatus {
        let table = try request.netem.distribution.map(DistributionTables.load)
        let tc = request.netem.isEmpty ? nil : try sockets.tc(request.netns)
        return try journal.locked {
            sweepLocked()
            try checkConflicts(request)
            var plan = LeasePlan(bands: [], redirects: [])
            var device = ""
            if let tc {
                let nl = tc.nl
                let link = try Self.resolveDevice(request, nl: nl)
                let ifbName = Ownership.ifbName(forIndex: link.index)
                let ifbState = try nl.link(named: ifbName) != nil ? tc.state(of: ifbName) : nil
                plan = try Planner.plan(target: request.target, peers: request.peers, direction: request.direction, netem: request.netem,
                                        device: try tc.state(of: link.name), isLoopback: link.isLoopback,
                                        deviceIndex: link.index, ifbState: ifbState)
                device = link.name
            }
            var id = Lease.newID()
            while journal.exists(id) { id = Lease.newID() }
            plan.filter = FilterPlanner.plan(leaseID: id, target: request.target, peers: request.peers,
                                             direction: request.direction, spec: request.filter)
            let now = Date()
            // Until the kernel holds the whole plan, this process controls the lease: if it is
            // killed half-way, the watchdog sees it gone and reverts the partial install.
            var lease = Lease(id: id, target: request.target, direction: request.direction,
                              netem: request.netem, filter: request.filter.isEmpty ? nil : request.filter,
                              peers: request.peers.isEmpty ? nil : request.peers, device: device, plan: plan,
                              created: now, deadline: now.addingTimeInterval(request.duration.seconds),
                              controller: controller ?? ProcessIdentity.current(), netns: request.netns)
            try journal.write(lease)  // before the kernel changes
            do {
                let started = try WatchdogProcess.spawn(executable: executable, leaseID: lease.id,
                                                        logPath: journal.directory.appendingPathComponent("watchdog.log").path,
                                                        reportsReadiness: plan.filter != nil)
                guard let identity = ProcessIdentity.of(pid: started.pid) else {
                    throw JournalError("the watchdog (pid \(started.pid)) exited at once; see \(journal.directory.path)/watchdog.log")
                }
                lease.watchdog = identity
                try journal.write(lease)
                try tc?.apply(plan, distributionTable: table)
                if let ready = started.readiness { try ready.wait() }
                if controller == nil {
                    lease.controller = nil  // a plain apply's lease outlives this process
                    try journal.write(lease)
                }
            } catch {
                _ = try? revertLocked(id: lease.id)  // whatever part went in, and the watchdog
                throw error
            }
            return LeaseStatus(lease: lease, installed: try tc?.readBack(plan) ?? [],
                               rules: try readRules(lease), watchdogAlive: true)
        }
    }

    /// The rules of a lease's table as the kernel holds them; nil without a table.
    func readRules(_ lease: Lease) throws -> [InstalledRule]? {
        guard let f = lease.plan.filter else { return nil }
        let nft = try sockets.nft(lease.netns)
        guard try nft.tables().contains(f.table) else { return nil }
        return try nft.rules(in: f.table)
    }

    /// Reverts one lease; a lease not in the journal is already reverted. `fallback` is the
    /// watchdog's own copy, used when the journal entry exists but can no longer be read.
    @discardableResult
    public func revert(id: String, fallback: Lease? = nil) throws -> Bool {
        try journal.locked { try revertLocked(id: id, fallback: fallback) }
    }

    func revertLocked(id: String, fallback: Lease? = nil) throws -> Bool {
        guard let lease = journal.read(id) ?? (journal.exists(id) ? fallback : nil) else { return false }
        do {
            if !lease.plan.bands.isEmpty || !lease.plan.redirects.isEmpty {
                try sockets.tc(lease.netns).revert(lease.plan)
            }
        } catch is NamespaceGone {
            // The namespace is gone, and its devices and qdiscs with it.
        }
        journal.remove(id)
        if let w = lease.watchdog, w.pid != getpid() {
            if w.isAlive { kill(w.pid, SIGTERM) }  // it removes its table; its own revert then finds nothing left
            try awaitTableGone(lease)
        }
        return true
    }

    /// Waits until a lease's table is gone. Only its watchdog's socket may delete it; a watchdog
    /// that does not within 3s is killed, and the kernel deletes the table with its socket.
    func awaitTableGone(_ lease: Lease) throws {
        guard let f = lease.plan.filter else { return }
        let nft: NFTables
        do { nft = try sockets.nft(lease.netns) } catch is NamespaceGone { return }
        func gone(within seconds: Double) throws -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while true {
                if try !nft.tables().contains(f.table) { return true }
                if Date() >= end { return false }
                usleep(20_000)
            }
        }
        if try gone(within: 3) { return }
        if let w = lease.watchdog, w.isAlive { kill(w.pid, SIGKILL) }
        if try gone(within: 2) { return }
        do {
            if try nft.remove(table: f.table) { return }  // a table without an owner (never made so by netfault)
        } catch let e as KernelError where e.errno == EPERM {
            // Owned by a process that is not the watchdog we know: leave it, and say so.
        }
        throw KernelError(operation: "removing nf_tables table \(f.table) of lease \(lease.id)", errno: EBUSY,
                          extendedAck: "the process that owns it did not let it go")
    }

    /// What a revert did.
    public struct RevertResult: Sendable {
        public var reverted: [String] = []
        public var unknown: [String] = []
        /// Objects with netfault's marks that no lease in the journal accounted for.
        public var orphans: [String] = []
    }

    /// Reverts the given leases. With `ids` nil (revert --all) it then removes every object
    /// carrying netfault's marks, so a deleted or corrupted journal still leaves nothing behind.
    public func revert(ids: [String]?) throws -> RevertResult {
        let tc = try sockets.tc(namespace)
        return try journal.locked {
            var result = RevertResult()
            for id in ids ?? journal.all().map(\.id) {
                if try revertLocked(id: id) { result.reverted.append(id) } else { result.unknown.append(id) }
            }
            if ids == nil {
                for obj in try tc.ownedObjects() {
                    try tc.remove(obj)
                    result.orphans.append(obj.description)
                }
                result.orphans += try removeOrphanTables()
                for id in journal.unreadable() {
                    journal.remove(id)
                    result.orphans.append("unreadable journal entry \(id)")
                }
            }
            return result
        }
    }

    /// netfault tables in this namespace that no lease in the journal accounts for; none
    /// where the kernel has no nf_tables (user-mode Linux), since none can have been made.
    func orphanTables() throws -> [String] {
        let known = Set(journal.all().compactMap { $0.netns == namespace ? $0.plan.filter?.table : nil })
        let tables: [String]
        do {
            tables = try sockets.nft(namespace).tables()
        } catch let e as KernelError where [EPROTONOSUPPORT, EOPNOTSUPP, EAFNOSUPPORT].contains(e.errno) {
            return []
        }
        return tables.filter { Ownership.leaseID(ofTable: $0) != nil && !known.contains($0) }
    }

    /// A watchdog whose journal entry is gone exits within half a second, and its table with
    /// it; what is still there after that is removed, if its owner allows.
    func removeOrphanTables() throws -> [String] {
        var left = try orphanTables()
        guard !left.isEmpty else { return [] }
        let end = Date().addingTimeInterval(2)
        while !left.isEmpty && Date() < end {
            usleep(50_000)
            left = try orphanTables()
        }
        let nft = try sockets.nft(namespace)
        return try left.map { table in
            do {
                try nft.remove(table: table)
                return "nf_tables table inet \(table)"
            } catch let e as KernelError where e.errno == EPERM {
                return "nf_tables table inet \(table): owned by a live process, not removed (\(e))"
            }
        }
    }

    /// Reverts leases whose watchdog is gone (killed, or the machine's pid space moved on).
    @discardableResult
    func sweepLocked() -> [String] {
        var swept: [String] = []
        for lease in journal.all() where !(lease.watchdog?.isAlive ?? false) {
            if (try? revertLocked(id: lease.id)) == true { swept.append(lease.id) }
        }
        return swept
    }

    /// Sweeps dead leases, then lists the live ones with their kernel objects, and any object
    /// with netfault's marks that no lease accounts for.
    public func status() throws -> (leases: [LeaseStatus], swept: [String], orphans: [String]) {
        let tc = try sockets.tc(namespace)
        return try journal.locked {
            let swept = sweepLocked()
            let all = journal.all()
            let leases = try all.map { lease in
                var installed: [InstalledBand] = []
                var rules: [InstalledRule]?
                do {
                    if !lease.plan.bands.isEmpty { installed = try sockets.tc(lease.netns).readBack(lease.plan) }
                    rules = try readRules(lease)
                } catch is NamespaceGone {
                    // its namespace is gone, and its objects with it
                }
                return LeaseStatus(lease: lease, installed: installed, rules: rules,
                                   watchdogAlive: lease.watchdog?.isAlive ?? false)
            }
            let here = all.filter { $0.netns == namespace }.map(\.plan)
            let tables = try orphanTables().map { "nf_tables table inet \($0)" }
            return (leases, swept, try tc.orphans(besides: here).map(\.description) + tables)
        }
    }
}
