import FoundationEssentials
import Glibc
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

    /// Blocks the signals that end a lease, so that they wait for `waitForRevertSignal` instead
    /// of killing the process half-way (and so that a container's PID 1 gets them at all: the
    /// kernel drops a default-handled SIGTERM to it, but never a blocked one).
    public static func blockRevertSignals() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits until `timeLeft` reaches zero or a blocked revert signal comes, whichever is first:
    /// the signal, or nil. `timeLeft` is asked again after every wake-up, so a deadline on the
    /// monotonic clock stays one whatever the wall clock does.
    public static func waitForRevertSignal(timeLeft: () -> TimeInterval) -> Int32? {
        var set = signalSet()
        while true {
            let left = timeLeft()
            guard left > 0 else { return nil }
            var ts = timespec(tv_sec: Int(left), tv_nsec: Int((left - Double(Int(left))) * 1e9))
            let sig = sigtimedwait(&set, nil, &ts)
            if sig > 0 { return sig }
        }
    }

    /// The first descriptor a watchdog inherits from apply: its journal entry, then the table's
    /// socket, then the claims (see `spawn`).
    static let firstInheritedFD: Int32 = 3

    /// A symlink in place of the watchdog's log would have root append to wherever it points.
    static func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }

    static func symlinkedLog(_ path: String) -> JournalError {
        JournalError("\(path) is a symlink; netfault will not write the watchdog's log through it. Remove it.")
    }

    /// Starts `executable __watchdog ID` detached and returns its pid. From fd 3 on it inherits
    /// `entry`, the lease's journal entry open for reading (its own copy, should the entry be
    /// deleted before it reads it), `table`, the netfilter socket that owns the lease's table,
    /// and `claims`, the sockets that hold its bands' names: apply made them all, and from
    /// then on the watchdog holds them.
    public static func spawn(
        executable: String, leaseID: String, logPath: String, entry: Int32? = nil, table: Int32? = nil,
        claims: [Int32] = []
    ) throws -> pid_t {
        if isSymlink(logPath) { throw symlinkedLog(logPath) }
        // Each set-up call returns an errno; one that fails would start a watchdog without its
        // signal mask, session or descriptors.
        func check(_ rc: Int32, _ what: String) throws {
            guard rc == 0 else {
                throw ProcessError("cannot start the watchdog: \(what): \(String(cString: strerror(rc)))")
            }
        }
        var attr = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attr), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attr) }
        var mask = signalSet()
        var defaults = signalSet()
        try check(posix_spawnattr_setsigmask(&attr, &mask), "setting its signal mask")
        try check(posix_spawnattr_setsigdefault(&attr, &defaults), "setting its signal defaults")
        try check(
            posix_spawnattr_setflags(&attr, Int16(posixSpawnSetsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)),
            "setting its spawn flags")
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        try check(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0), "opening /dev/null for it")
        try check(
            posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600),
            "opening \(logPath) for it")
        try check(posix_spawn_file_actions_adddup2(&actions, 1, 2), "giving it a standard error")
        // Copies from fd 3 on, without close-on-exec (dup2 clears it); the originals keep it, so
        // no other child inherits them. Each source is first moved above the targets' range,
        // so that no dup2 overwrites a source still to be passed.
        let sources = [entry, table].compactMap { $0 } + claims
        var moved: [Int32] = []
        defer { moved.forEach { close($0) } }
        for fd in sources {
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, firstInheritedFD + Int32(sources.count))
            guard copy >= 0 else {
                throw ProcessError("cannot pass descriptor \(fd) to the watchdog: \(String(cString: strerror(errno)))")
            }
            moved.append(copy)
        }
        var args = [executable, command, leaseID]
        for (i, fd) in moved.enumerated() {
            try check(posix_spawn_file_actions_adddup2(&actions, fd, firstInheritedFD + Int32(i)), "passing it fd \(fd)")
        }
        var next = firstInheritedFD
        for (flag, fd) in [("--entry-fd", entry), ("--table-fd", table)] where fd != nil {
            args += [flag, "\(next)"]
            next += 1
        }
        if !claims.isEmpty {
            args += ["--claim-fds", (0..<Int32(claims.count)).map { "\(next + $0)" }.joined(separator: ",")]
        }
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, &cargs, environ)
        guard rc == 0 else {
            if rc == ELOOP && isSymlink(logPath) { throw symlinkedLog(logPath) }  // made one since the check
            throw ProcessError("cannot start the watchdog (\(executable)): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Why the lease's namespace is gone (`ip netns del`), or nil. This process's claims and
    /// table socket would keep it, and everything in it, alive until the deadline: the
    /// watchdog reverts at once instead, which removes the lease from the journal (there is
    /// nothing to remove in the namespace) and, by exiting, lets the namespace go.
    static func namespaceGone(_ netns: NetworkNamespace?) -> String? {
        guard let netns, netns.isGone else { return nil }
        return "its network namespace \(netns.label) is gone: \(netns.path) no longer names it"
    }

    /// The watchdog's life: hold the lease's band claims and its netfilter table, which apply
    /// made and passed on (`claimFDs`, `tableFD`: both go with this process, however it ends),
    /// wait for the deadline or a signal, then revert. Returns the exit status.
    public static func run(
        leaseID: String, journal: Journal, logger: Logger, entryFD: Int32? = nil, tableFD: Int32? = nil,
        claimFDs: [Int32] = []
    ) -> Int32 {
        blockRevertSignals()  // already blocked by spawn; harmless when run by hand
        // The entry as apply passed it when the journal no longer has it (deleted at once): the
        // loop below then reverts from this copy.
        guard let lease = journal.read(leaseID) ?? entryFD.flatMap(Journal.read(entry:)) else {
            // Closing what it inherited (at exit) drops the table and frees the band names.
            logger.info("lease \(leaseID) is not in the journal; nothing to watch")
            return 0
        }
        let names = lease.plan.claimNames
        // Held until this process exits, which is after the bands are removed (`defer` keeps
        // them alive to the end: Swift may release an object after its last use).
        let claims: [Claim]
        var nft: NFTables?
        do {
            guard claimFDs.count == names.count, (tableFD != nil) == (lease.plan.filter != nil) else {
                throw ProcessError(
                    "apply passed \(claimFDs.count) claims and \(tableFD == nil ? "no" : "a") table for a lease of "
                        + "\(names.count) bands and \(lease.plan.filter == nil ? "no" : "a") table")
            }
            claims = Claims.adopt(names, fds: claimFDs)
            if let tableFD { nft = try NFTables.adopting(fd: tableFD) }
        } catch {
            // apply has returned: the lease ends now rather than run unwatched. Exiting closes
            // the sockets, which drops the table and frees the names.
            logger.error("taking over lease \(leaseID) from apply failed: \(error)")
            _ = try? LeaseManager(journal: journal).revertAsWatchdog(lease)
            return 1
        }
        logger.info("holding lease \(leaseID): \(claims.count) band claims\(nft == nil ? "" : " and its nf_tables table")")
        // Removes the table before anything that waits for the journal's lock: a `revert`
        // holding the lock is waiting for exactly this.
        func removeTable() {
            guard let n = nft, let filter = lease.plan.filter else { return }
            nft = nil
            do { try n.remove(table: filter.table) } catch {
                logger.error("removing \(filter.table): \(error); it goes when this process exits")
            }
        }
        defer { removeTable(); withExtendedLifetime(claims) {} }
        logger.info("watching lease \(leaseID) until \(lease.deadline) (\(lease.timeLeft())s on the monotonic clock)")
        var reason = "deadline"
        var unreadable = false
        while true {
            let left = lease.timeLeft()
            if left <= 0 { break }
            claims.forEach { $0.drain() }
            // Reverted by another command, or the journal entry was deleted: the bands are
            // removed again (nothing when revert did it), since while this process holds
            // their claims no other lease can have taken them.
            if !journal.exists(leaseID) {
                removeTable()
                if lease.plan.hasTrafficControl {
                    do {
                        try TrafficControl(socket: try NetlinkSocket.open(in: lease.netns)).revert(lease.plan)
                    } catch is NamespaceGone {} catch {
                        logger.error("removing the bands of lease \(leaseID): \(error)")
                    }
                }
                logger.info("lease \(leaseID) left the journal (reverted by another command, or deleted)")
                return 0
            }
            // Read afresh: the state moves on as apply installs. An entry that became
            // unreadable keeps the first copy, and is still reverted by it; but only a fresh
            // read says whether apply is still installing (the first copy always does).
            let fresh = journal.read(leaseID)
            if fresh == nil && !unreadable {
                unreadable = true
                logger.warning("the journal entry of lease \(leaseID) cannot be read; the first copy stands in")
            }
            let current = fresh ?? lease
            // The apply still installing, or the controlling process (`netfault run`,
            // `apply --foreground`), died without finishing (SIGKILL, crash): checked every
            // half second.
            if let fresh, fresh.installing, let i = fresh.installer, !i.isAlive {
                reason = "the process installing it (\(i.pid)) is gone"
                break
            }
            if let c = current.controller, !c.isAlive {
                reason = "controlling process \(c.pid) is gone"
                break
            }
            if let why = namespaceGone(lease.netns) { reason = why; break }
            let wake = min(left, 0.5)
            let start = MonotonicClock.nanoseconds()
            if let sig = waitForRevertSignal(timeLeft: { wake - Double(MonotonicClock.nanoseconds() - start) / 1e9 }) {
                reason = "signal \(sig)"
                break
            }
        }
        removeTable()
        do {
            if try LeaseManager(journal: journal).revertAsWatchdog(lease) {
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
