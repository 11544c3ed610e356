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
        let connection = (rules ?? []).filter { !$0.steers }.map(\.packets)
        guard !bands.isEmpty || rules != nil else { return nil }
        return bands.reduce(0, +) + connection.reduce(0, +)
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
    public init(journal: Journal, namespace: NetworkNamespace? = nil) {
        self.journal = journal; self.namespace = namespace
    }

    /// The device a request's traffic leaves through, checked to exist.
    static func resolveDevice(_ request: FaultRequest, nl: NetlinkSocket) throws -> LinkInfo {
        let links = try nl.links()
        if let name = request.device {
            guard let l = links.first(where: { $0.name == name }) else {
                throw InputError(
                    "unknown interface '\(name)'; this host has: \(links.map(\.name).joined(separator: ", "))")
            }
            try checkIface(l, request: request, nl: nl, links: links)
            return l
        }
        // The server's address, or each --peer block's: all must leave through one device.
        let addresses = request.target.addressBlocks(peers: request.peers).map(\.address)
        var routed: [(IPAddress, LinkInfo)] = []
        for a in addresses {
            let noRoute = InputError(
                "no route to \(request.target.host != nil ? "--host" : "--peer") \(a); give --iface explicitly")
            let idx: Int32?
            do { idx = try nl.routeDevice(to: a) } catch let e as KernelError
                where [ENETUNREACH, EHOSTUNREACH].contains(e.errno)
            {
                throw noRoute
            }
            guard let idx, let l = links.first(where: { $0.index == idx }) else { throw noRoute }
            routed.append((a, l))
        }
        if let first = routed.first {
            if let other = routed.first(where: { $0.1.index != first.1.index }) {
                throw InputError(
                    """
                    --peer \(first.0) routes through \(first.1.name) but \(other.0) through \(other.1.name); give \
                    --iface, or one lease per device
                    """
                )
            }
            return first.1
        }
        guard let lo = links.first(where: \.isLoopback) else {
            throw InputError("no loopback device here; give --iface")
        }
        return lo
    }

    /// Refuses an --iface that --host's packets never pass (Target.checkIface). Whether the host
    /// goes over loopback (an address of this host's own does) is the kernel's route to it.
    static func checkIface(_ link: LinkInfo, request: FaultRequest, nl: NetlinkSocket, links: [LinkInfo]) throws {
        guard let host = request.target.host else { return }
        var routed: LinkInfo?
        if link.isLoopback && !host.isLoopback {
            do {
                let index = try nl.routeDevice(to: host)
                routed = links.first { $0.index == index }
            } catch let e as KernelError where [ENETUNREACH, EHOSTUNREACH].contains(e.errno) {}
        }
        try request.target.checkIface(
            link.name, isLoopback: link.isLoopback, routed: routed.map { ($0.name, $0.isLoopback) })
    }

    /// Refuses a lease that would put a second fault of the same kind on the same packets
    /// as a lease in force: only one of them could act, and which one would be an accident.
    func checkConflicts(_ request: FaultRequest) throws {
        let mine = request.scope
        for other in journal.all() where other.netns == request.netns {
            let theirs = FaultScope(
                target: other.target, peers: other.peers ?? [], direction: other.direction,
                netem: other.netem, filter: other.filter ?? FilterSpec())
            let kinds = mine.conflicts(with: theirs)
            guard !kinds.isEmpty else { continue }
            let ports = Set(request.target.ports).intersection(other.target.ports).sorted().map(String.init).joined(
                separator: ",")
            let kind = kinds.contains(.netem) ? "netem" : "netfilter"
            throw PlanConflict(
                """
                lease \(other.id) already puts \(kind) faults (\(other.summary)) on port \(ports) \
                \(other.direction.rawValue); one packet gets one \(kind) fault. Revert it first (netfault revert \
                \(other.id)), or choose another port, --direction or --host
                """
            )
        }
    }

    /// Installs a lease: plan, journal, watchdog, kernel, read-back. The netem part is installed
    /// here; the netfilter part by the watchdog, whose socket owns the table, and this waits
    /// until the watchdog says it is in place.
    /// - Parameter controller: a process whose death ends the lease (`netfault run`). Without
    ///   one, the lease is bound to this process only until it is fully installed.
    public func apply(
        _ request: FaultRequest, executable: String, controller: ProcessIdentity? = nil
    ) throws -> LeaseStatus {
        // A netfault in another container that shares the namespace plans from the same kernel
        // state under another journal's lock; when both pick one band, one claim wins and the
        // other apply plans again.
        var attempt = 1
        while true {
            do {
                return try applyOnce(request, executable: executable, controller: controller)
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

    /// Bands of `device` that a live netfault in `netns` holds.
    func claimedBands(_ device: String, in netns: NetworkNamespace?) throws -> Set<UInt16> {
        let names = Dictionary(
            uniqueKeysWithValues: Ownership.leaseBands.map { (Claims.band(device: device, band: $0), $0) })
        return Set(try Claims.held(Array(names.keys), in: netns).compactMap { names[$0] })
    }

    /// What a request would install, decided from one snapshot of the kernel: the plan, the
    /// traffic-control steps that install it, the device and where the server is.
    public struct Preview: Sendable {
        public let id: String
        public let plan: LeasePlan
        public let steps: [TCStep]
        public let device: String
        public let server: ServerLocation
        public let duration: Duration
    }

    func previewLocked(_ request: FaultRequest) throws -> Preview {
        let server = try request.serverLocation()
        var plan = LeasePlan(bands: [], redirects: [])
        var steps: [TCStep] = []
        var device = ""
        if !request.netem.isEmpty {
            let tc = try sockets.tc(request.netns)
            let link = try Self.resolveDevice(request, nl: tc.nl)
            let ifbName = Ownership.ifbName(forIndex: link.index)
            var ifbState = try tc.state(of: ifbName)
            ifbState.claimed = try claimedBands(ifbName, in: request.netns)
            var deviceState = try tc.state(of: link.name)
            deviceState.claimed = try claimedBands(link.name, in: request.netns)
            plan = try Planner.plan(
                target: request.target, peers: request.peers, direction: request.direction,
                netem: request.netem, device: deviceState, isLoopback: link.isLoopback,
                deviceIndex: link.index, ifbState: ifbState, server: server,
                steerWithNFTables: request.steerWithNFTables)
            steps = Planner.steps(for: plan, devices: [link.name: deviceState, ifbName: ifbState])
            device = link.name
        }
        var id = Lease.newID()
        while journal.exists(id) { id = Lease.newID() }
        plan.filter = FilterPlanner.plan(
            leaseID: id, target: request.target, peers: request.peers,
            direction: request.direction, spec: request.filter, server: server)
        let steering = plan.bands.filter(\.steeredByNFTables).flatMap { FilterPlanner.steering($0, leaseID: id) }
        if !steering.isEmpty {
            plan.filter = FilterPlan(
                table: Ownership.tableName(leaseID: id), ports: request.target.ports,
                rules: (plan.filter?.rules ?? []) + steering)
        }
        return Preview(id: id, plan: plan, steps: steps, device: device, server: server, duration: request.duration)
    }

    /// What `apply` would do, changing nothing: no journal entry, no watchdog, no kernel change.
    public func preview(_ request: FaultRequest) throws -> Preview {
        try journal.locked {
            try checkConflicts(request)
            return try previewLocked(request)
        }
    }

    func applyOnce(_ request: FaultRequest, executable: String, controller: ProcessIdentity?) throws -> LeaseStatus {
        let table = try request.netem.distribution.map(DistributionTables.load)
        let tc = request.netem.isEmpty ? nil : try sockets.tc(request.netns)
        return try journal.locked {
            sweepLocked()
            if request.netns == namespace { _ = try? sweepOrphansLocked() }
            try checkConflicts(request)
            let preview = try previewLocked(request)
            let (id, plan, device, server) = (preview.id, preview.plan, preview.device, preview.server)
            let now = Date()
            // Until the state is `installed`, this process is the installer: if it is killed
            // half-way, the watchdog sees it gone and reverts the partial install.
            var lease = Lease(
                id: id, target: request.target, direction: request.direction,
                netem: request.netem, filter: request.filter.isEmpty ? nil : request.filter,
                peers: request.peers.isEmpty ? nil : request.peers, device: device, plan: plan,
                created: now, deadline: now.addingTimeInterval(request.duration.seconds),
                controller: controller, netns: request.netns, server: server,
                state: .journalled, installer: ProcessIdentity.current())
            lease.setMonotonicDeadline(in: request.duration.seconds)
            try journal.write(lease)  // before the kernel changes
            // This process claims the bands and makes the table (owned by its socket), then
            // installs the bands and passes claims and table to the watchdog, which holds them
            // from then on; apply does not wait for it. A band is never in the kernel without a
            // live owner that every netfault can see: this process, then the watchdog.
            var ownTable: NFTables?
            var claims: [Claim] = []
            do {
                claims = try Claims.take(
                    plan.claimNames, in: request.netns)
                if let filter = plan.filter {
                    let n = try NFTables.open(in: request.netns)
                    try n.install(filter, timeout: Duration(nanoseconds: Int64(lease.timeLeft() * 1e9)))
                    ownTable = n
                }
                try tc?.execute(preview.steps, of: plan, distributionTable: table)
                let entry = try journal.openEntry(lease.id)
                defer { close(entry) }
                let pid = try WatchdogProcess.spawn(
                    executable: executable, leaseID: lease.id,
                    logPath: journal.directory.appendingPathComponent("watchdog.log").path, entry: entry,
                    table: ownTable?.fileDescriptor, claims: claims.map(\.fileDescriptor))
                ownTable?.closeAtOnce()
                claims = []  // the watchdog's copies hold the names now
                guard let identity = ProcessIdentity.of(pid: pid) else {
                    throw ProcessError(
                        "the watchdog (pid \(pid)) exited at once; see \(journal.directory.path)/watchdog.log")
                }
                lease.watchdog = identity
                lease.state = .installed
                try journal.write(lease)
            } catch {
                ownTable?.closeAtOnce()
                ownTable = nil  // the table goes with the last holder of its socket
                claims = []
                _ = try? revertLocked(id: lease.id)  // whatever part went in, and the watchdog
                throw error
            }
            // The faults are in force and held: a failure to read them back is reported with
            // them, not as a failed apply that would leave them in place.
            do {
                let rules = try ownTable.map { try $0.rules(in: plan.filter!.table) } ?? readRules(lease)
                // From here the watchdog alone holds the table: it must go when the watchdog does.
                ownTable = nil
                return LeaseStatus(
                    lease: lease, installed: try tc?.readBack(plan) ?? [], rules: rules, watchdogAlive: true)
            } catch {
                return LeaseStatus(
                    lease: lease, installed: [], rules: nil, watchdogAlive: true,
                    notReadBack: "reading them back failed: \(error)")
            }
        }
    }

    /// Reverts one lease and says how many packets it matched (nil: not in the journal, or
    /// nothing could be read back).
    public func revertCounting(id: String) throws -> (reverted: Bool, matched: UInt64?) {
        try journal.locked { try revertCountingLocked(id: id) }
    }

    /// The count is read first: the revert removes what holds it.
    func revertCountingLocked(id: String) throws -> (reverted: Bool, matched: UInt64?) {
        let matched = packetsMatched(id)
        return (try revertLocked(id: id), matched)
    }

    /// The packets a lease in the journal has matched so far, read from the kernel.
    public func packetsMatched(id: String) -> UInt64? { (try? journal.locked { packetsMatched(id) }) ?? nil }

    func packetsMatched(_ id: String) -> UInt64? {
        guard let lease = journal.read(id) else { return nil }
        let installed = lease.plan.bands.isEmpty ? [] : (try? sockets.tc(lease.netns).readBack(lease.plan)) ?? []
        let rules = try? readRules(lease)
        return LeaseStatus(lease: lease, installed: installed, rules: rules ?? nil, watchdogAlive: true).packetsMatched
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
                try sockets.tc(lease.netns).revert(lease.plan)
            }
        } catch is NamespaceGone {
            // The namespace is gone, and its devices and qdiscs with it.
        }
        try journal.remove(id)
        if !byWatchdog, let w = lease.watchdog {
            if w.isAlive {
                // It removes its table; its own revert then finds nothing left. SIGCONT: a stopped
                // watchdog would otherwise hold the SIGTERM pending, and this revert wait 3s for it.
                kill(w.pid, SIGTERM)
                kill(w.pid, SIGCONT)
            }
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
                // The watchdog deletes its table within a millisecond of SIGTERM; a listing
                // costs tens of microseconds, so look often rather than oversleep.
                usleep(200)
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
                let (reverted, matched) = try revertCountingLocked(id: id)
                if reverted {
                    result.reverted.append(id)
                    result.matched[id] = matched
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

    /// What every command does first (doctor too): reverts leases whose watchdog is gone and
    /// removes what no live netfault owns in this namespace. Returns what it did.
    public func sweep() throws -> (swept: [Swept], removed: [String]) {
        try journal.locked { (sweepLocked(), try sweepOrphansLocked()) }
    }

    /// netfault's objects in this command's namespace, and which of them a live netfault owns:
    /// a claim held in the namespace (any container's), or a lease of this journal.
    func namespaceObjects() throws -> (
        tc: TrafficControl, marked: TrafficControl.Marked, live: Liveness, holders: [String: pid_t]
    ) {
        let tc = try sockets.tc(namespace)
        let marked = try tc.marked()
        let holders = try Claims.holders(marked.claimNames, in: namespace)
        var live = Liveness()
        for d in Set(marked.claimNames.compactMap(Self.bandKey))
        where holders[Claims.band(device: d.device, band: d.band)] != nil {
            live.bands.insert(d)
        }
        for lease in journal.all() where lease.netns == namespace {
            for b in lease.plan.bands { live.bands.insert(Liveness.BandKey(b.device, b.band)) }
        }
        live.probeDevices = Set(marked.probeDevices.map(\.name).filter { holders[Claims.probe(device: $0)] != nil })
        return (tc, marked, live, holders)
    }

    static func bandKey(_ claimName: String) -> Liveness.BandKey? {
        let parts = claimName.split(separator: "/")
        guard parts.count == 4, parts[1] == "band", let b = UInt16(parts[3]) else { return nil }
        return Liveness.BandKey(String(parts[2]), b)
    }

    /// Removes what no live netfault owns in this namespace: what a killed container or a lost
    /// journal left. Every command does this, so the next one in the namespace cleans up.
    func sweepOrphansLocked() throws -> [String] {
        let (tc, marked, live, _) = try namespaceObjects()
        return try marked.orphans(live: live).map { obj in
            try tc.remove(obj)
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
                    $0 > 0 && !known.contains($0) && ProcessIdentity.isWatchdog(pid: $0, of: journal.directory)
                })
            else { return }
            usleep(50_000)
        }
    }

    /// What other live netfaults (another journal, another container) hold in this namespace.
    func othersObjects() throws -> [String] {
        let (_, _, _, holders) = try namespaceObjects()
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
            return try sockets.nft(namespace).tableInfo()
        } catch let e as KernelError where [EPROTONOSUPPORT, EOPNOTSUPP, EAFNOSUPPORT].contains(e.errno) {
            return []
        }
    }

    /// Removes the orphan tables, if their owner allows.
    func removeOrphanTables() throws -> [String] {
        let left = try orphanTables()
        guard !left.isEmpty else { return [] }
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
            if let w = lease.watchdog, w.isAlive {
                let late = lease.overdue()
                guard late > Self.watchdogGrace else { continue }
                kill(w.pid, SIGKILL)
                let end = Date().addingTimeInterval(2)
                while w.isAlive && Date() < end { usleep(10_000) }
                reason =
                    "its watchdog (pid \(w.pid)) missed the deadline by \(late.fixed(1))s (stopped or starved) and was killed"
            } else {
                reason = "its watchdog was gone"
            }
            if (try? revertLocked(id: lease.id)) == true { swept.append(Swept(id: lease.id, reason: reason)) }
        }
        return swept
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
                    if !lease.plan.bands.isEmpty { installed = try sockets.tc(lease.netns).readBack(lease.plan) }
                    rules = try readRules(lease)
                } catch is NamespaceGone {
                    // its namespace is gone, and its objects with it
                } catch let e as PermissionError {
                    // A --netns lease seen from a process without CAP_SYS_ADMIN: listed, not read.
                    notReadBack = "its namespace cannot be entered from here (\(e.reason))"
                }
                return LeaseStatus(
                    lease: lease, installed: installed, rules: rules,
                    watchdogAlive: lease.watchdog?.isAlive ?? false, notReadBack: notReadBack)
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
