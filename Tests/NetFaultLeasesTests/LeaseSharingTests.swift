import Foundation
import Glibc
import NetFaultCore
@testable import NetFaultKernel
import Testing
@testable import NetFaultLeases

/// Leases held by serve's own process, and two journals (two containers) in one namespace,
/// against the recording fake.
struct LeaseSharingTests {
    typealias World = LeaseLifecycleTests.World

    func hold(
        _ w: World, _ socket: TableOwner?, _ r: FaultRequest = LeaseLifecycleTests.request()
    ) throws -> HeldLease {
        let holder = LeaseHolder.process(tables: socket, timeout: .seconds(10))
        return try w.manager.install(r, policy: LeaseLifecycleTests.steered, holder: holder).held!
    }

    @Test("a lease serve holds has no journal entry, no watchdog and no read-back, and release removes it")
    func heldFastPath() throws {
        let w = try World()
        defer { w.done() }
        let socket = w.kernel.tableSocket()
        var held: HeldLease? = try hold(w, socket)
        #expect(w.journal.all().isEmpty && w.kernel.steps("spawn").isEmpty)
        #expect(w.kernel.steps("tc read-back").isEmpty && w.kernel.steps("rules").isEmpty)
        #expect(w.kernel.steps("tables").isEmpty, "no listing of tables on the fast path")
        #expect(w.kernel.state.tables.count == 1 && w.kernel.state.claims.count == 1)
        try w.manager.release(held!)
        held = nil
        w.expectClean("after release")
    }

    @Test("a held lease of connection faults only (serve's toggle) takes no journal lock and reads no tc state")
    func heldConnectionFaultsTakeNoLock() throws {
        let w = try World()
        defer { w.done() }
        let socket = w.kernel.tableSocket()
        // Another netfault holds the journal's lock all along (its own open file, so flock blocks).
        let other = open(w.dir.appendingPathComponent("lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        defer { close(other) }
        #expect(other >= 0 && flock(other, LOCK_EX) == 0)
        let job = Job {
            let held = try hold(w, socket, LeaseLifecycleTests.request(delay: false))
            try w.manager.release(held)
        }
        DispatchQueue.global().async { job.run() }
        // Generous: the work takes microseconds; waiting on the lock would take forever.
        let finished = job.done.wait(timeout: .now() + 20) == .success
        flock(other, LOCK_UN)
        if !finished { job.done.wait() }
        #expect(finished, "hold and release waited for the journal's lock")
        #expect(job.failure == nil)
        #expect(w.kernel.steps("table add").count == 1 && w.kernel.steps("table delete").count == 1, "\(w.kernel.log)")
        let tc = w.kernel.log.filter { $0.hasPrefix("tc") || $0 == "links" || $0.hasPrefix("state") || $0 == "holders" }
        #expect(tc.isEmpty, "no traffic-control dump, link list or claim scan: \(tc)")
        w.expectClean("after release")
    }

    @Test("a held lease that fails at any step leaves nothing behind, its socket kept open")
    func heldFailAtEachStep() throws {
        let count: Int = try {
            let w = try World()
            defer { w.done() }
            _ = try hold(w, w.kernel.tableSocket())
            return w.kernel.mutatingSteps
        }()
        #expect(count >= 3)
        for n in 0..<count {
            let w = try World()
            defer { w.done() }
            let socket = w.kernel.tableSocket()  // serve's: stays open, so its tables stay unless removed
            w.kernel.trouble = .fail(at: n)
            #expect(throws: KernelError.self) { _ = try hold(w, socket) }
            w.expectClean("held, failed at step \(n) of \(count): \(w.kernel.log)")
            withExtendedLifetime(socket) {}
        }
    }

    @Test("two journals in one namespace: each plans around the other's claims, and neither sweeps the other's lease")
    func twoJournals() throws {
        let a = try World()
        defer { a.done() }
        let b = try World(kernel: a.kernel)
        defer { b.done() }
        let first = try a.manager.apply(
            LeaseLifecycleTests.request(), policy: LeaseLifecycleTests.steered, executable: "/nonexistent/netfault")
        // Another port from another journal: no conflict in its journal, and another band.
        let second = try b.manager.apply(
            LeaseLifecycleTests.request(port: 3306), policy: LeaseLifecycleTests.steered,
            executable: "/nonexistent/netfault")
        let band = LeaseLifecycleTests.band
        #expect(first.lease.plan.bands.map(\.band) == [band] && second.lease.plan.bands.map(\.band) == [band + 1])
        // B's sweep and revert --all leave A's live lease alone, and B sees it as another's.
        let (swept, removed) = try b.manager.sweep()
        #expect(swept.isEmpty && removed.isEmpty)
        let status = try b.manager.status()
        #expect(status.leases.map(\.lease.id) == [second.lease.id])
        #expect(status.others.contains { $0.contains("netem band \(band)") }, "\(status.others)")
        _ = try b.manager.revert(ids: nil)
        #expect(a.kernel.state.tc.contains("netem lo \(band)") && !a.kernel.state.tc.contains("netem lo \(band + 1)"))
        #expect(a.journal.all().count == 1 && b.journal.all().isEmpty)
        // A's container dies with its watchdog: B's next command removes what nobody owns.
        a.kernel.die(try #require(first.lease.watchdog?.pid))
        let (_, orphans) = try b.manager.sweep()
        #expect(!orphans.isEmpty)
        #expect(a.kernel.isEmpty, "\(a.kernel.leftovers)")
    }
}

/// Work for another thread, whose end the test waits for with a limit (the fake kernel is used
/// by one thread at a time: the test waits before it looks).
final class Job: @unchecked Sendable {
    let body: () throws -> Void
    let done = DispatchSemaphore(value: 0)
    private(set) var failure: (any Error)?
    init(_ body: @escaping () throws -> Void) { self.body = body }
    func run() {
        do { try body() } catch { failure = error }
        done.signal()
    }
}
