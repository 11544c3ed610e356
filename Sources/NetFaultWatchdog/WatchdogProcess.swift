import Foundation
import Logging
import NetFaultCore
import NetFaultKernel

/// The detached process that owns a lease's deadline. It starts in its own session with
/// SIGTERM/SIGINT/SIGHUP blocked and waits for them with sigtimedwait, so a signal reverts
/// instead of killing it half-way.
public enum WatchdogProcess {
    public static let command = "__watchdog"
    /// glibc's POSIX_SPAWN_SETSID (2.26+), hidden behind _GNU_SOURCE from Swift.
    static let posixSpawnSetsid: Int32 = 0x80
    static let revertSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in revertSignals { sigaddset(&set, s) }
        return set
    }

    /// Starts `executable __watchdog ID` detached; returns its pid.
    public static func spawn(executable: String, leaseID: String, logPath: String) throws -> Int32 {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var mask = signalSet()
        var defaults = signalSet()
        posix_spawnattr_setsigmask(&attr, &mask)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(posixSpawnSetsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let args = [executable, command, leaseID]
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, &cargs, environ)
        guard rc == 0 else {
            throw JournalError("cannot start the watchdog (\(executable)): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// The watchdog's life: wait for the deadline or a signal, then revert. Returns the exit status.
    public static func run(leaseID: String, journal: Journal, logger: Logger) -> Int32 {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)  // already blocked by spawn; harmless when run by hand
        guard let lease = journal.read(leaseID) else {
            logger.info("lease \(leaseID) is not in the journal; nothing to watch")
            return 0
        }
        logger.info("watching lease \(leaseID) until \(lease.deadline)")
        var reason = "deadline"
        while true {
            let left = lease.deadline.timeIntervalSinceNow
            if left <= 0 { break }
            // Someone else (netfault revert) reverted it: nothing left to do.
            if !journal.exists(leaseID) {
                logger.info("lease \(leaseID) was reverted by another command")
                return 0
            }
            // Read afresh: apply releases its hold once installed. An entry that became
            // unreadable keeps the first copy, and is still reverted by it.
            let current = journal.read(leaseID) ?? lease
            // The controlling process (`netfault run`, or an apply still installing) died
            // without finishing (SIGKILL, crash): checked every half second.
            if let c = current.controller, !c.isAlive {
                reason = "controlling process \(c.pid) is gone"
                break
            }
            let wait = min(left, 0.5)
            var ts = timespec(tv_sec: Int(wait), tv_nsec: Int((wait - Double(Int(wait))) * 1e9))
            let sig = sigtimedwait(&set, nil, &ts)
            if sig > 0 {
                reason = "signal \(sig)"
                break
            }
        }
        do {
            if try LeaseManager(journal: journal).revert(id: leaseID, fallback: lease) {
                logger.info("lease \(leaseID) reverted (\(reason))")
            } else {
                logger.info("lease \(leaseID) was already reverted (\(reason))")
            }
            return 0
        } catch {
            logger.error("reverting lease \(leaseID) failed: \(error)")
            return 1
        }
    }
}
