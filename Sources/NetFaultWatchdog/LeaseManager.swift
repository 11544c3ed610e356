import Foundation
import NetFaultCore
import NetFaultKernel

/// What the user asked for, validated.
public struct FaultRequest: Sendable {
    public let target: Target
    public let direction: Direction
    public let netem: NetemSpec
    /// nil: the device the kernel routes the host through, or lo without a host.
    public let device: String?
    public let duration: Duration
    /// nil: this process's own network namespace.
    public let netns: NetworkNamespace?

    public init(target: Target, direction: Direction, netem: NetemSpec, device: String?, duration: Duration,
                netns: NetworkNamespace? = nil) {
        self.target = target; self.direction = direction; self.netem = netem
        self.device = device; self.duration = duration; self.netns = netns
    }
}

/// A lease with what the kernel holds for it right now.
public struct LeaseStatus: Sendable {
    public let lease: Lease
    public let installed: [InstalledBand]
    public let watchdogAlive: Bool
}

/// One traffic-control handle per network namespace a command touches.
final class Sockets {
    private var cache: [String: TrafficControl] = [:]
    func tc(_ netns: NetworkNamespace?) throws -> TrafficControl {
        let key = netns.map { "\($0.path)#\($0.inode)" } ?? ""
        if let t = cache[key] { return t }
        let t = TrafficControl(socket: try NetlinkSocket.open(in: netns))
        cache[key] = t
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
        if let host = request.target.host {
            guard let idx = try nl.routeDevice(to: host), let l = links.first(where: { $0.index == idx }) else {
                throw InputError("no route to --host \(host); give --iface explicitly")
            }
            return l
        }
        guard let lo = links.first(where: \.isLoopback) else { throw InputError("no loopback device here; give --iface") }
        return lo
    }

    /// Installs a lease: plan, journal, watchdog, kernel, read-back.
    /// - Parameter controller: a process whose death ends the lease (`netfault run`). Without
    ///   one, the lease is bound to this process only until it is fully installed.
    public func apply(_ request: FaultRequest, executable: String, controller: ProcessIdentity? = nil) throws -> (Lease, [InstalledBand]) {
        let table = try request.netem.distribution.map(DistributionTables.load)
        let tc = try sockets.tc(request.netns)
        let nl = tc.nl
        return try journal.locked {
            sweepLocked()
            let link = try Self.resolveDevice(request, nl: nl)
            let ifbName = Ownership.ifbName(forIndex: link.index)
            let ifbState = try nl.link(named: ifbName) != nil ? tc.state(of: ifbName) : nil
            let plan = try Planner.plan(target: request.target, direction: request.direction, netem: request.netem,
                                        device: try tc.state(of: link.name), isLoopback: link.isLoopback,
                                        deviceIndex: link.index, ifbState: ifbState)
            let now = Date()
            // Until the kernel holds the whole plan, this process controls the lease: if it is
            // killed half-way, the watchdog sees it gone and reverts the partial install.
            var lease = Lease(id: Lease.newID(), target: request.target, direction: request.direction,
                              netem: request.netem, device: link.name, plan: plan, created: now,
                              deadline: now.addingTimeInterval(request.duration.seconds),
                              controller: controller ?? ProcessIdentity.current(), netns: request.netns)
            try journal.write(lease)  // before the kernel changes
            do {
                let pid = try WatchdogProcess.spawn(executable: executable, leaseID: lease.id,
                                                    logPath: journal.directory.appendingPathComponent("watchdog.log").path)
                guard let identity = ProcessIdentity.of(pid: pid) else {
                    throw JournalError("the watchdog (pid \(pid)) exited at once; see \(journal.directory.path)/watchdog.log")
                }
                lease.watchdog = identity
                try journal.write(lease)
                try tc.apply(plan, distributionTable: table)
                if controller == nil {
                    lease.controller = nil  // a plain apply's lease outlives this process
                    try journal.write(lease)
                }
            } catch {
                journal.remove(lease.id)
                if let w = lease.watchdog { kill(w.pid, SIGTERM) }
                throw error
            }
            return (lease, try tc.readBack(plan))
        }
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
            try sockets.tc(lease.netns).revert(lease.plan)
        } catch is NamespaceGone {
            // The namespace is gone, and its devices and qdiscs with it.
        }
        journal.remove(id)
        if let w = lease.watchdog, w.pid != getpid(), w.isAlive {
            kill(w.pid, SIGTERM)  // its own revert then finds nothing left
        }
        return true
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
                for id in journal.unreadable() {
                    journal.remove(id)
                    result.orphans.append("unreadable journal entry \(id)")
                }
            }
            return result
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
                do {
                    installed = try sockets.tc(lease.netns).readBack(lease.plan)
                } catch is NamespaceGone {
                    // its namespace is gone, and its objects with it
                }
                return LeaseStatus(lease: lease, installed: installed, watchdogAlive: lease.watchdog?.isAlive ?? false)
            }
            let here = all.filter { $0.netns == namespace }.map(\.plan)
            return (leases, swept, try tc.orphans(besides: here).map(\.description))
        }
    }
}
