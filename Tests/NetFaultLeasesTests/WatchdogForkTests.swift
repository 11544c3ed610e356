import CProcess
import Foundation
import Glibc
import NetFaultKernel
import Testing
@testable import NetFaultLeases

/// The guard of the forked watchdog: only a process with one thread may fork it (the child of
/// any other may find the heap locked by a thread that fork did not copy); any other process
/// takes the exec. The fork itself is tested through the CLI (WatchdogStartTests, netns).
@Suite(.serialized)
struct WatchdogForkTests {
    @Test("a process with another thread running never forks its watchdog: it starts it by exec")
    func threadsTakeExec() throws {
        let gate = Condition()
        var open = false
        let thread = try JoinableThread {
            gate.withLock { while !open { gate.wait(untilMonotonic: MonotonicClock.nanoseconds() + 10_000_000) } }
        }
        defer {
            gate.withLock { open = true; gate.broadcast() }
            thread.join()
        }
        #expect(!WatchdogProcess.isSingleThreaded())
        #expect(WatchdogProcess.forkTitle(leaseID: "nf-00000e") == nil)
    }

    @Test("a watchdog started from a process with threads is exec'd: its log says so")
    func spawnedByExec() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("nf-fork-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("watchdog.log").path
        // /bin/echo stands in for netfault: it writes its arguments to the log.
        let pid = try WatchdogProcess.spawn(executable: "/bin/echo", leaseID: "nf-00000f", logPath: log)
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "__watchdog nf-00000f\n")
    }

    @Test("the command line area is this process's argv, as /proc/self/cmdline shows it")
    func commandLineArea() throws {
        let area = try #require(CommandLineArea.current())
        let cmdline = try #require(FileManager.default.contents(atPath: "/proc/self/cmdline"))
        #expect(area.count == cmdline.count)
        #expect(Data(bytes: area.start, count: area.count) == cmdline)
    }

    @Test("the fork returns to apply only once the child has let go of apply's descriptors (the journal's lock)")
    func forkWaitsForTheChild() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let log = open("/dev/null", O_WRONLY)
        defer { close(log); close(ends[0]) }
        var area = [CChar](repeating: 0, count: 8)
        let title = Array("t\0".utf8).map { CChar($0) }
        let pid = area.withUnsafeMutableBufferPointer { a in
            title.withUnsafeBufferPointer { nf_fork_watchdog(log, nil, 0, a.baseAddress, a.count, $0.baseAddress, $0.count) }
        }
        if pid == 0 {
            raise(SIGSTOP)  // stopped, as a crash trial stops a watchdog
            _exit(0)
        }
        #expect(pid > 0)
        close(ends[1])
        // The write end's last copy was the child's: gone already, so the pipe reads EOF at once.
        var p = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        #expect(poll(&p, 1, 0) == 1, "the child still held apply's descriptors when the fork returned")
        kill(pid, SIGKILL)
        waitpid(pid, nil, 0)
    }
}
