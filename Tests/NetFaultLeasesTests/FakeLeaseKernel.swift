import Foundation
import Glibc
import NetFaultCore
@testable import NetFaultKernel
@testable import NetFaultLeases

/// A recording stand-in for the kernel and the process table, for the lease life cycle's unit
/// tests: it keeps a table of what a lease makes (claims, nf_tables tables, tc objects,
/// watchdogs), records each step in order, and can fail a step or kill the installer at one.
/// It models ownership as the kernel does: a claim or an owner table lives as long as the
/// process (or socket) that holds it. It tests ordering and clean-up, not the kernel.
final class FakeLeaseKernel: LeaseKernel, LeaseProcesses {
    /// What goes wrong during an install, counted in mutating steps (claims, table, each tc
    /// step, the watchdog's start).
    enum Trouble: Equatable {
        /// The step with this index fails (as a kernel refusal would), changing nothing.
        case fail(at: Int)
        /// The installer is killed once this many steps are done: the state is frozen there, and
        /// `recoverFromKill` puts it back after the installer's own clean-up, which a killed
        /// process never runs.
        case kill(after: Int)
    }

    struct Killed: Error {}

    var trouble: Trouble?
    /// Every call, in order ("claims netfault/band/lo/2", "step: tc qdisc add dev lo ...", ...).
    var log: [String] = []
    private(set) var mutatingSteps = 0
    var links = [LinkInfo(index: 1, name: "lo", isLoopback: true), LinkInfo(index: 2, name: "eth0", isLoopback: false)]
    var listening: Set<UInt16> = []
    /// Read-back answers that disagree with what was installed: a band whose netem is gone.
    var readBackLosesNetem = false
    var readBackFails = false
    var watchdogExitsAtOnce = false

    /// The objects the kernel holds.
    struct State {
        var claims: [String: (pid: pid_t, serial: Int)] = [:]
        /// Table name to the pid whose socket owns it (owner nil: an unowned table).
        var tables: [String: Table] = [:]
        var tc: Set<String> = []
        var watchdogs: [pid_t: Watchdog] = [:]
        var alive: Set<pid_t> = []
    }
    var state = State()
    /// State and journal files when the installer was killed.
    private var frozen: (State, [String: Data])?
    let journalDirectory: URL?
    /// Handles made before a recovery are the dead installer's: dropping them changes nothing.
    private var generation = 0
    private var serial = 0
    private var nextPid: pid_t = 2000
    func nextWatchdogPid() -> pid_t {
        nextPid += 1
        return nextPid
    }

    /// This test process, as the installer.
    let me = ProcessIdentity(pid: 1000, startTime: 1)

    struct Table { var owner: pid_t? }

    struct Watchdog {
        let leaseID: String
        /// The state directory of the journal it watches (where its log is).
        let directory: String
        let claims: [ClaimHandle]
        let table: TableOwner?
    }

    init(journalDirectory: URL? = nil) {
        self.journalDirectory = journalDirectory
        state.alive.insert(me.pid)
    }

    // MARK: the kernel's view, for the tests

    var isEmpty: Bool { state.claims.isEmpty && state.tables.isEmpty && state.tc.isEmpty }
    var leftovers: String {
        "claims \(state.claims.keys.sorted()), tables \(state.tables.keys.sorted()), tc \(state.tc.sorted())"
    }
    var liveWatchdogs: [pid_t] { state.watchdogs.keys.filter { state.alive.contains($0) }.sorted() }
    func steps(_ prefix: String) -> [String] { log.filter { $0.hasPrefix(prefix) } }

    // MARK: steps, trouble and kills

    /// Counts a mutating step: fails or kills as told, else runs `body`.
    func step(_ name: String, _ body: () throws -> Void) throws {
        log.append(name)
        let index = mutatingSteps
        if trouble == .kill(after: index) { try freeze() }
        if trouble == .fail(at: index) {
            mutatingSteps += 1
            throw KernelError(operation: "\(name) (told to fail)", errno: EIO)
        }
        mutatingSteps += 1
        try body()
        if trouble == .kill(after: mutatingSteps) { try freeze() }
    }

    private func freeze() throws -> Never {
        var files: [String: Data] = [:]
        if let dir = journalDirectory?.appendingPathComponent("leases"),
            let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        {
            for n in names { files[n] = FileManager.default.contents(atPath: dir.appendingPathComponent(n).path) }
        }
        frozen = (state, files)
        trouble = nil
        throw Killed()
    }

    /// Puts back the state of the moment the installer was killed, then ends the installer as
    /// the kernel would: what only it held (claims, its own table socket) goes.
    func recoverFromKill() throws {
        guard let (saved, files) = frozen else { return }
        frozen = nil
        generation += 1
        let dropped = state
        state = saved
        withExtendedLifetime(dropped) {}
        if let dir = journalDirectory?.appendingPathComponent("leases") {
            for n in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
                try FileManager.default.removeItem(at: dir.appendingPathComponent(n))
            }
            for (n, data) in files { try data.write(to: dir.appendingPathComponent(n)) }
        }
        die(me.pid)
    }

    /// A process ends: the kernel frees its claims and deletes the tables its sockets own.
    func die(_ pid: pid_t) {
        // Its handles are released after the state is changed, not while (their deinit reads it).
        let record = state.watchdogs.removeValue(forKey: pid)
        state.alive.remove(pid)
        state.claims = state.claims.filter { $0.value.pid != pid }
        state.tables = state.tables.filter { $0.value.owner != pid }
        withExtendedLifetime(record) {}
    }

    // MARK: LeaseKernel: snapshot

    func links(in netns: NetworkNamespace?) throws -> [LinkInfo] {
        log.append("links")
        return links
    }
    func routeDevice(to address: IPAddress, in netns: NetworkNamespace?) throws -> Int32? {
        log.append("route \(address)")
        return address.isLoopback ? 1 : 2
    }
    func deviceState(_ device: String, in netns: NetworkNamespace?) throws -> DeviceState {
        log.append("state \(device)")
        guard links.contains(where: { $0.name == device }) else {
            return DeviceState(name: device, root: .kernelDefault(kind: "none"), exists: false)
        }
        let used = Set(Ownership.leaseBands.filter { state.tc.contains("netem \(device) \($0)") })
        let claimed = Set(Ownership.leaseBands.filter { state.claims[Claims.band(device: device, band: $0)] != nil })
        let root: DeviceState.Root =
            state.tc.contains("root \(device)") ? .ours(usedBands: used) : .kernelDefault(kind: "noqueue")
        return DeviceState(
            name: device, root: root, claimed: claimed, hasIngress: state.tc.contains("ingress \(device)"))
    }
    func listeningPorts(in netns: NetworkNamespace?) throws -> Set<UInt16> {
        log.append("listeners")
        return listening
    }

    // MARK: LeaseKernel: claims

    final class FakeClaim: ClaimHandle {
        let name: String
        let serial: Int
        let generation: Int
        weak var kernel: FakeLeaseKernel?
        init(name: String, serial: Int, generation: Int, kernel: FakeLeaseKernel) {
            self.name = name; self.serial = serial; self.generation = generation; self.kernel = kernel
        }
        var fileDescriptor: Int32 { -1 }
        /// The installer's copy closes: the name is free unless a watchdog took it over.
        deinit { kernel?.closed(claim: self) }
    }

    fileprivate func closed(claim: FakeClaim) {
        guard claim.generation == generation, let held = state.claims[claim.name],
            held.serial == claim.serial, held.pid == me.pid
        else { return }
        state.claims[claim.name] = nil
    }

    func takeClaims(_ names: [String], in netns: NetworkNamespace?) throws -> [ClaimHandle] {
        var taken: [ClaimHandle] = []
        try step("claims \(names.joined(separator: " "))") {
            if let held = names.first(where: { state.claims[$0] != nil }) { throw ClaimTaken(name: held) }
            for name in names {
                serial += 1
                state.claims[name] = (me.pid, serial)
                taken.append(FakeClaim(name: name, serial: serial, generation: generation, kernel: self))
            }
        }
        return taken
    }
    func claimHolders(_ names: [String], in netns: NetworkNamespace?) throws -> [String: pid_t] {
        log.append("holders")
        var found: [String: pid_t] = [:]
        for n in names { if let h = state.claims[n] { found[n] = h.pid } }
        return found
    }

    // MARK: LeaseKernel: nf_tables

    /// A netfilter socket: the tables it makes live until it closes (or its process dies).
    final class FakeTableOwner: TableOwner {
        weak var kernel: FakeLeaseKernel?
        var pid: pid_t
        let generation: Int
        private(set) var made: Set<String> = []
        init(kernel: FakeLeaseKernel, pid: pid_t, generation: Int) {
            self.kernel = kernel; self.pid = pid; self.generation = generation
        }
        func install(_ plan: FilterPlan, timeout: Duration, lots: Duration?) throws {
            guard let kernel else { return }
            try kernel.step("table add \(plan.table)") {
                guard kernel.state.tables[plan.table] == nil else {
                    throw KernelError(operation: "table add", errno: EEXIST)
                }
                kernel.state.tables[plan.table] = Table(owner: pid)
                made.insert(plan.table)
            }
        }
        func renew(table: String, ports: [UInt16], timeout: Duration) throws { kernel?.log.append("renew \(table)") }
        func remove(table: String) throws -> Bool {
            guard let kernel else { return false }
            kernel.log.append("table delete \(table)")
            guard kernel.state.tables[table] != nil else { return false }
            kernel.state.tables[table] = nil
            return true
        }
        func rules(in table: String) throws -> [InstalledRule] { try kernel?.rules(in: table, netns: nil) ?? [] }
        var fileDescriptor: Int32? { -1 }
        func closeAtOnce() {}
        /// The socket closes: its tables go, unless the socket was passed on.
        deinit { kernel?.closed(tables: self) }
    }

    fileprivate func closed(tables owner: FakeTableOwner) {
        guard owner.generation == generation, owner.pid == me.pid else { return }
        for t in owner.made where state.tables[t]?.owner == me.pid { state.tables[t] = nil }
    }

    /// A socket of this process (serve's), owning the tables it makes.
    func tableSocket() -> FakeTableOwner { FakeTableOwner(kernel: self, pid: me.pid, generation: generation) }

    func openTableOwner(in netns: NetworkNamespace?) throws -> TableOwner {
        log.append("table socket")
        return tableSocket()
    }
    func tables(in netns: NetworkNamespace?) throws -> [TableInfo] {
        log.append("tables")
        return state.tables.map { TableInfo(name: $0.key, owned: $0.value.owner != nil) }
    }
    func rules(in table: String, netns: NetworkNamespace?) throws -> [InstalledRule] {
        log.append("rules \(table)")
        if readBackFails { throw KernelError(operation: "listing rules (told to fail)", errno: EIO) }
        return state.tables[table] == nil ? [] : [
            InstalledRule(chain: "output", handle: 1, comment: nil, packets: 3, bytes: 180, text: "reject")
        ]
    }
    func removeTable(_ table: String, in netns: NetworkNamespace?) throws -> Bool {
        log.append("table delete \(table) (not owner)")
        guard let found = state.tables[table] else { return false }
        if let pid = found.owner, state.alive.contains(pid) {
            throw KernelError(operation: "table delete", errno: EPERM)
        }
        state.tables[table] = nil
        return true
    }
}
