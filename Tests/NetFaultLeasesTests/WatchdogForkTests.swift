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

    @Test("a title is written NUL-padded to the area's end, and cut at its end")
    func titleWrite() {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 8)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0x41, count: 8)
        let area = CommandLineArea(start: buffer, count: 8)
        area.write(Array("ab\0cd\0".utf8))
        #expect(Array(UnsafeBufferPointer(start: buffer, count: 8)) == [0x61, 0x62, 0, 0x63, 0x64, 0, 0, 0])
        area.write(Array("0123456789".utf8))
        #expect(Array(UnsafeBufferPointer(start: buffer, count: 8)) == Array("01234567".utf8).map { CChar($0) })
    }
}
