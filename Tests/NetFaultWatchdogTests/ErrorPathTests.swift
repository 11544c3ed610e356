import Foundation
import NetFaultCore
import NetFaultKernel
import Testing
@testable import NetFaultWatchdog

/// Failures that used to be ignored or misfiled, each made to happen for real.
struct ErrorPathTests {
    func journal() throws -> (Journal, URL) {
        let dir = JournalTests.scratch()
        return (try Journal(directory: dir), dir)
    }

    @Test("a lease that cannot be renamed into place is an error, and its temporary file is gone")
    func writeFails() throws {
        let (journal, dir) = try journal()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lease = JournalTests.lease("nf-00000a")
        // A non-empty directory where the lease file goes: rename(2) must fail.
        let blocker = journal.url(for: lease.id)!
        try FileManager.default.createDirectory(
            at: blocker.appendingPathComponent("x"), withIntermediateDirectories: true)
        #expect(throws: JournalError.self) { try journal.write(lease) }
        let left = try FileManager.default.contentsOfDirectory(atPath: blocker.deletingLastPathComponent().path)
        #expect(left == ["nf-00000a.json"], "the temporary file is left: \(left)")
    }

    @Test("an entry that cannot be removed is an error; one already gone is not")
    func removeFails() throws {
        let (journal, dir) = try journal()
        defer { try? FileManager.default.removeItem(at: dir) }
        try journal.remove("nf-00000b")
        try FileManager.default.createDirectory(at: journal.url(for: "nf-00000b")!, withIntermediateDirectories: true)
        #expect(throws: JournalError.self) { try journal.remove("nf-00000b") }
    }

    @Test("a watchdog that cannot be started is a process error (exit 71), not a journal error")
    func spawnFails() {
        #expect {
            _ = try WatchdogProcess.spawn(
                executable: "/nonexistent/netfault", leaseID: "nf-00000c", logPath: "/dev/null")
        } throws: { e in
            (e as? ProcessError).map { $0.exitStatus == ExitStatus.osError && $0.message.contains("No such file") }
                ?? false
        }
    }

    @Test("a readiness pipe that cannot be read fails at once instead of spinning until the timeout")
    func readinessReadFails() {
        let start = Date()
        #expect(throws: ProcessError.self) { try Readiness(fd: 9999, logPath: "/dev/null").wait() }
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
