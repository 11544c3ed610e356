import Foundation
import Glibc
import NetFaultCore
@testable import NetFaultKernel
import Testing
@testable import NetFaultLeases

/// The lease life cycle (apply, conflict, revert, sweep, crash recovery) against a recording
/// fake of the kernel and the process table, with a real journal in a scratch directory. The
/// fake checks order and clean-up only: the kernel suites check what the kernel does.
struct LeaseLifecycleTests {
    /// A manager over a fresh journal and a fresh fake; the directory is removed by `done`.
    struct World {
        let dir: URL
        let journal: Journal
        let kernel: FakeLeaseKernel
        let manager: LeaseManager

        init(kernel shared: FakeLeaseKernel? = nil) throws {
            dir = JournalTests.scratch()
            journal = try Journal(directory: dir)
            kernel = shared ?? FakeLeaseKernel(journalDirectory: dir)
            manager = LeaseManager(journal: journal, kernel: kernel, processes: kernel)
        }

        func done() { try? FileManager.default.removeItem(at: dir) }

        /// Nothing of any lease left: no entry, no claim, no table, no tc object, no watchdog.
        func expectClean(_ why: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let at = sourceLocation
            #expect(journal.all().isEmpty && journal.unreadable().isEmpty, "\(why): journal left", sourceLocation: at)
            #expect(kernel.isEmpty, "\(why): \(kernel.leftovers)", sourceLocation: at)
            #expect(kernel.liveWatchdogs.isEmpty, "\(why): watchdogs \(kernel.liveWatchdogs)", sourceLocation: at)
        }
    }

    static func request(
        port: UInt16 = 6379, delay: Bool = true, reject: Bool = true, direction: Direction = .fromServer
    ) -> FaultRequest {
        FaultRequest(
            target: Target(ports: [port], name: "redis"), direction: direction,
            netem: delay ? NetemSpec(delay: .milliseconds(20)) : NetemSpec(),
            filter: reject ? FilterSpec(action: .reject) : FilterSpec(), device: nil, duration: .seconds(60),
            server: .local)
    }

    static let steered = LeasePolicy(steerWithNFTables: true)
    /// The first band a lease gets on a device.
    static let band = Ownership.leaseBands.lowerBound

    func apply(_ w: World, _ r: FaultRequest = request(), policy: LeasePolicy = steered) throws -> LeaseStatus {
        try w.manager.apply(r, policy: policy, executable: "/nonexistent/netfault")
    }

    @Test(
        "apply journals first, then claims, table, tc steps and the watchdog, in that order",
        arguments: [true, false])
    func applyOrder(steer: Bool) throws {
        let w = try World()
        defer { w.done() }
        let status = try apply(w, policy: LeasePolicy(steerWithNFTables: steer))
        let mutating = w.kernel.log.filter {
            $0.hasPrefix("claims") || $0.hasPrefix("table add") || $0.hasPrefix("step: ") || $0.hasPrefix("spawn")
        }
        let table = Ownership.tableName(leaseID: status.lease.id)
        #expect(mutating.first == "claims netfault/band/lo/\(Self.band)")
        #expect(mutating.dropFirst().first == "table add \(table)")
        #expect(mutating.last == "spawn watchdog \(status.lease.id)")
        let tc = mutating.filter { $0.hasPrefix("step: ") }
        #expect(mutating.count == 3 + tc.count)
        #expect(tc.first?.contains("root handle") == true, "\(tc)")
        #expect(tc.contains { $0.contains("u32") } == !steer, "steered by nf_tables: no u32 filter; \(tc)")
        // Journalled, installed, held by the watchdog that now has the claims and the table.
        let lease = try #require(w.journal.read(status.lease.id))
        #expect(lease.state == .installed && lease.watchdog != nil)
        let pid = try #require(lease.watchdog?.pid)
        #expect(w.kernel.state.claims["netfault/band/lo/\(Self.band)"]?.pid == pid)
        #expect(w.kernel.state.tables[table]?.owner == pid)
        #expect(status.installed.map(\.netem) == [NetemSpec(delay: .milliseconds(20))])
        #expect(status.rules?.count == 1 && status.notReadBack == nil)
    }

    @Test("a second lease with the same fault on the same packets is refused before the kernel is touched")
    func conflict() throws {
        let w = try World()
        defer { w.done() }
        let first = try apply(w)
        let before = (w.kernel.state.tc, w.kernel.mutatingSteps)
        #expect(throws: PlanConflict.self) { try apply(w, Self.request(reject: false)) }
        #expect(w.kernel.mutatingSteps == before.1 && w.kernel.state.tc == before.0)
        #expect(w.journal.all().map(\.id) == [first.lease.id])
        // Another port is no conflict, and gets the next band.
        let other = try apply(w, Self.request(port: 3306))
        #expect(other.lease.plan.bands.map(\.band) == [Self.band + 1])
    }

    /// A netem-only lease for one command's connections: its journal entry keeps the scope (for
    /// status, for the revert that ends run --scope command's cgroup, and for the conflict check,
    /// which lets two such leases with disjoint scopes share a port and a device).
    @Test("netem scoped to a command: the entry keeps the scope, and a second command's netem is no conflict")
    func netemScopeKept() throws {
        let w = try World()
        defer { w.done() }
        func scoped(_ n: UInt64) -> FaultRequest {
            Self.request(reject: false, direction: .toServer).scoped(
                .cgroup(CgroupScope(path: "/netfault-run-\(n)", id: n, level: 1, madeForRun: true)))
        }
        let first = try apply(w, scoped(1))
        #expect(w.journal.read(first.lease.id)?.filter?.scope == scoped(1).filter.scope)
        #expect(first.lease.summary.contains("only cgroup /netfault-run-1's connections"), "\(first.lease.summary)")
        let second = try apply(w, scoped(2))
        #expect(second.lease.plan.bands.map(\.band) == [Self.band + 1])
        #expect(throws: PlanConflict.self) { try apply(w, Self.request(reject: false, direction: .toServer)) }
    }

    @Test("revert removes the bands, ends the watchdog (which takes its table and claims along) and the entry")
    func revert() throws {
        let w = try World()
        defer { w.done() }
        let status = try apply(w)
        let pid = try #require(status.lease.watchdog?.pid)
        #expect(try w.manager.revert(id: status.lease.id))
        #expect(w.kernel.log.contains("signal \(SIGTERM) \(pid)"))
        w.expectClean("after revert")
        #expect(try !w.manager.revert(id: status.lease.id), "a second revert finds nothing")
    }

    @Test("a lease whose watchdog died is swept by the next command: its bands go, nothing is left")
    func sweepDeadWatchdog() throws {
        let w = try World()
        defer { w.done() }
        let status = try apply(w)
        w.kernel.die(try #require(status.lease.watchdog?.pid))  // SIGKILL: the kernel drops its claims and table
        #expect(!w.kernel.state.tc.isEmpty, "the bands outlive the watchdog")
        let (swept, _) = try w.manager.sweep()
        #expect(swept == [LeaseManager.Swept(id: status.lease.id, reason: "its watchdog was gone")])
        w.expectClean("after the sweep")
    }

    /// Mutating steps of one apply of `request()` with `policy`.
    func stepCount(policy: LeasePolicy, _ r: FaultRequest = request()) throws -> Int {
        let w = try World()
        defer { w.done() }
        _ = try w.manager.apply(r, policy: policy, executable: "/nonexistent/netfault")
        return w.kernel.mutatingSteps
    }

    @Test("an apply that fails at any step leaves nothing behind, without any sweep", arguments: [true, false])
    func failAtEachStep(steer: Bool) throws {
        let policy = LeasePolicy(steerWithNFTables: steer)
        let count = try stepCount(policy: policy)
        #expect(count >= 4)
        for n in 0..<count {
            let w = try World()
            defer { w.done() }
            w.kernel.trouble = .fail(at: n)
            #expect(throws: KernelError.self) { try apply(w, policy: policy) }
            w.expectClean("failed at step \(n) of \(count): \(w.kernel.log)")
        }
    }

    @Test("a watchdog that exits at once fails the apply, and the apply leaves nothing behind")
    func watchdogExitsAtOnce() throws {
        let w = try World()
        defer { w.done() }
        w.kernel.watchdogExitsAtOnce = true
        #expect(throws: ProcessError.self) { try apply(w) }
        w.expectClean("after a watchdog that exited at once")
    }

    @Test(
        "an apply killed after any number of steps is cleaned up by the next command's sweep",
        arguments: [true, false])
    func killedAfterEachStep(steer: Bool) throws {
        let policy = LeasePolicy(steerWithNFTables: steer)
        let count = try stepCount(policy: policy)
        for n in 0...count {
            let w = try World()
            defer { w.done() }
            w.kernel.trouble = .kill(after: n)
            do { _ = try apply(w, policy: policy) } catch is FakeLeaseKernel.Killed {}
            try w.kernel.recoverFromKill()
            #expect(w.journal.all().count == 1, "killed after \(n): the entry written before the kernel stays")
            // Whatever watchdog it started dies too (the machine's pid space moved on).
            for pid in w.kernel.liveWatchdogs { w.kernel.die(pid) }
            let (swept, _) = try w.manager.sweep()
            #expect(swept.count == 1)
            w.expectClean("killed after \(n) of \(count) steps, then swept")
        }
    }

    @Test("an apply killed after the watchdog started is reverted by that watchdog, which sees its installer gone")
    func killedWatchdogReverts() throws {
        let count = try stepCount(policy: Self.steered)
        let w = try World()
        defer { w.done() }
        w.kernel.trouble = .kill(after: count)  // the watchdog is started, the entry still says journalled
        do { _ = try apply(w) } catch is FakeLeaseKernel.Killed {}
        try w.kernel.recoverFromKill()
        let lease = try #require(w.journal.all().first)
        #expect(lease.installing && lease.installer.map(w.kernel.isAlive) == false)
        let pid = try #require(w.kernel.liveWatchdogs.first)
        // What WatchdogProcess.run does then: revert as the watchdog, and exit.
        #expect(try w.manager.revertAsWatchdog(lease))
        w.kernel.die(pid)
        w.expectClean("reverted by its watchdog")
    }

    @Test("a read-back that disagrees is reported as the kernel has it; one that fails keeps the lease in force")
    func readBackDisagrees() throws {
        let w = try World()
        defer { w.done() }
        w.kernel.readBackLosesNetem = true
        let status = try apply(w)
        #expect(status.installed.map(\.netem) == [nil], "the plan's netem must not stand in for the kernel's")
        w.kernel.readBackLosesNetem = false
        w.kernel.readBackFails = true
        let second = try apply(w, Self.request(port: 3306))
        #expect(second.notReadBack?.contains("told to fail") == true)
        #expect(second.installed.isEmpty && second.rules == nil)
        #expect(w.journal.all().count == 2 && w.kernel.liveWatchdogs.count == 2, "both leases stay in force")
        w.kernel.readBackFails = false
        #expect(try w.manager.status().leases.count == 2)
    }
}
