import CProcess
import FoundationEssentials
import Glibc
import Logging
import NetFaultCore
import NetFaultKernel

/// The watchdog as a fork of apply: the same process set up as `spawn` sets up the exec'd one
/// (session, signals, descriptors from fd 3 on), running `run` without starting the program
/// again. An exec of the 30 MB binary (paging in, relocations, conformance scans) was about
/// 5 ms of CPU per lease. Only a process with one thread may go on in Swift after fork (another
/// thread may hold a lock of the heap or the runtime); any other takes the exec.
extension WatchdogProcess {
    /// Whether this process may fork its watchdog: one thread, and room in its command line for
    /// the watchdog's, which `isWatchdog` and `ps` read. Returns the command line to write, and
    /// where.
    static func forkTitle(leaseID: String) -> (area: CommandLineArea, bytes: [UInt8])? {
        guard isSingleThreaded(), let area = CommandLineArea.current() else { return nil }
        let zero = [UInt8(0)]
        let candidates = [
            Array("netfault".utf8) + zero + Array(command.utf8) + zero + Array(leaseID.utf8) + zero,
            Array("netfault".utf8) + zero + Array(command.utf8) + zero,
        ]
        return candidates.first { $0.count <= area.count }.map { (area, $0) }
    }

    /// Whether this process has one thread. A thread joined a moment ago (`onThread`, for
    /// setns) may still be listed while the kernel finishes its exit: two are asked about again
    /// a few times. More are a server's (serve, matrix), which need not wait to hear no.
    static func isSingleThreaded() -> Bool {
        for attempt in 0..<4 {
            let n = nf_thread_count()
            if n == 1 { return true }
            if n != 2 || attempt == 3 { return false }
            usleep(100)
        }
        return false
    }

    /// Forks the watchdog of `leaseID` (`forkTitle` said it may) and returns its pid once the
    /// child holds nothing of apply's but `sources` (entry, table, claims, in `pass`'s order,
    /// which it finds from fd 3 on) and shows `title`; the child never returns.
    static func forkWatchdog(
        leaseID: String, logPath: String, title: (area: CommandLineArea, bytes: [UInt8]), entry: Int32?,
        table: Int32?, claims: [Int32]
    ) throws -> pid_t {
        let log = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard log >= 0 else {
            if errno == ELOOP { throw symlinkedLog(logPath) }
            throw ProcessError("cannot start the watchdog: opening \(logPath): \(String(cString: strerror(errno)))")
        }
        defer { close(log) }
        let area = title.area
        let sources = [entry, table].compactMap { $0 } + claims
        fflush(nil)  // what apply has buffered is apply's to write, not the child's as well
        let pid = sources.withUnsafeBufferPointer { fds in
            title.bytes.withUnsafeBufferPointer { t in
                t.withMemoryRebound(to: CChar.self) {
                    nf_fork_watchdog(
                        log, fds.baseAddress, Int32(fds.count), area.start, area.count, $0.baseAddress, $0.count)
                }
            }
        }
        guard pid >= 0 else {
            throw ProcessError("cannot start the watchdog: fork: \(String(cString: strerror(errno)))")
        }
        if pid > 0 { return pid }
        var next = firstInheritedFD
        func take(_ fd: Int32?) -> Int32? {
            guard fd != nil else { return nil }
            defer { next += 1 }
            return next
        }
        let entryFD = take(entry), tableFD = take(table)
        let claimFDs = claims.compactMap { take($0) }
        let status = runForked(leaseID: leaseID, entryFD: entryFD, tableFD: tableFD, claimFDs: claimFDs)
        fflush(nil)
        _exit(status)  // not exit: apply's atexit handlers are apply's
    }

    /// The forked watchdog's life, as `netfault __watchdog` runs it after an exec.
    static func runForked(leaseID: String, entryFD: Int32?, tableFD: Int32?, claimFDs: [Int32]) -> Int32 {
        NetfilterCloses.forgetInChild()
        var logger = Logger(label: "netfault.watchdog", factory: { StreamLogHandler.standardError(label: $0) })
        logger[metadataKey: "pid"] = "\(getpid())"
        logger.info("started by fork")
        let journal: Journal
        do { journal = try Journal() } catch {
            logger.error("lease \(leaseID): \(error)")
            return 1
        }
        return run(
            leaseID: leaseID, journal: journal, logger: logger, entryFD: entryFD, tableFD: tableFD, claimFDs: claimFDs)
    }
}

/// The bytes of this process's command line (argv's strings, which lie one after another),
/// which /proc/PID/cmdline and `ps` show: a forked watchdog writes its own there, before it
/// lets apply go on (nf_fork_watchdog).
struct CommandLineArea {
    let start: UnsafeMutablePointer<CChar>
    let count: Int

    /// The area, or nil when argv's strings are not laid out one after another.
    static func current() -> CommandLineArea? {
        let argc = Int(CommandLine.argc)
        guard argc > 0, let first = CommandLine.unsafeArgv[0] else { return nil }
        var end = first
        for i in 0..<argc {
            guard let arg = CommandLine.unsafeArgv[i], arg == end else { return nil }
            end = arg + strlen(arg) + 1
        }
        return CommandLineArea(start: first, count: end - first)
    }
}
