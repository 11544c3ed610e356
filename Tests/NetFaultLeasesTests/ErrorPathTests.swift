import Foundation
import NetFaultCore
import NetFaultKernel
import Testing
@testable import NetFaultLeases

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

    @Test(
        "a symlink in place of watchdog.log is refused like the journal's (exit 73, naming it), its target untouched",
        arguments: [true, false])
    func symlinkedLog(targetExists: Bool) throws {
        let (journal, dir) = try journal()
        let target = JournalTests.scratch()
        defer { try? FileManager.default.removeItem(at: dir); unlink(target.path) }
        if targetExists { try Data("keep\n".utf8).write(to: target) }
        let log = journal.directory.appendingPathComponent("watchdog.log").path
        #expect(symlink(target.path, log) == 0)
        let error = #expect(throws: JournalError.self) {
            _ = try WatchdogProcess.spawn(executable: "/bin/true", leaseID: "nf-00000d", logPath: log)
        }
        #expect(error?.exitStatus == ExitStatus.cantCreate)
        #expect(error?.message.contains("\(log) is a symlink") == true && error?.message.contains("Remove it") == true)
        if targetExists {
            #expect(try Data(contentsOf: target) == Data("keep\n".utf8), "the symlink's target was written")
        } else {
            #expect(access(target.path, F_OK) != 0, "the symlink's target was created")
        }
    }
}
