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

    /// Starts the watchdog detached and returns its pid: a fork of this process where it has one
    /// thread (`WatchdogFork.swift`), else `executable __watchdog ID`. From fd 3 on it inherits
    /// `entry`, the lease's journal entry open for reading (its own copy, should the entry be
    /// deleted before it reads it), `table`, the netfilter socket that owns the lease's table,
    /// and `claims`, the sockets that hold its bands' names: apply made them all, and from
    /// then on the watchdog holds them.
    public static func spawn(
        executable: String, leaseID: String, logPath: String, entry: Int32? = nil, table: Int32? = nil,
        claims: [Int32] = []
    ) throws -> pid_t {
        if isSymlink(logPath) { throw symlinkedLog(logPath) }
        if let title = forkTitle(leaseID: leaseID) {
            return try forkWatchdog(
                leaseID: leaseID, logPath: logPath, title: title, entry: entry, table: table, claims: claims)
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
        let (moved, passing) = try pass(entry: entry, table: table, claims: claims, actions: &actions)
        defer { moved.forEach { close($0) } }
        let args = [executable, command, leaseID] + passing
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

    /// Each set-up call returns an errno; one that fails would start a watchdog without its
    /// signal mask, session or descriptors.
    static func check(_ rc: Int32, _ what: String) throws {
        guard rc == 0 else {
            throw ProcessError("cannot start the watchdog: \(what): \(String(cString: strerror(rc)))")
        }
    }

    /// Arranges the descriptors the watchdog inherits, from fd 3 on, and returns the copies to
    /// close once it is started and the arguments that name them. Copies without close-on-exec
    /// (dup2 clears it); the originals keep it, so no other child inherits them. Each source is
    /// first moved above the targets' range, so that no dup2 overwrites a source still to be passed.
    static func pass(
        entry: Int32?, table: Int32?, claims: [Int32], actions: inout posix_spawn_file_actions_t
    ) throws -> (moved: [Int32], arguments: [String]) {
        let sources = [entry, table].compactMap { $0 } + claims
        var moved: [Int32] = []
        do {
            for fd in sources {
                let copy = fcntl(fd, F_DUPFD_CLOEXEC, firstInheritedFD + Int32(sources.count))
                guard copy >= 0 else {
                    throw ProcessError(
                        "cannot pass descriptor \(fd) to the watchdog: \(String(cString: strerror(errno)))")
                }
                moved.append(copy)
            }
            for (i, fd) in moved.enumerated() {
                try check(
                    posix_spawn_file_actions_adddup2(&actions, fd, firstInheritedFD + Int32(i)), "passing it fd \(fd)")
            }
        } catch {
            moved.forEach { close($0) }
            throw error
        }
        var args: [String] = []
        var next = firstInheritedFD
        for (flag, fd) in [("--entry-fd", entry), ("--table-fd", table)] where fd != nil {
            args += [flag, "\(next)"]
            next += 1
        }
        if !claims.isEmpty {
            args += ["--claim-fds", (0..<Int32(claims.count)).map { "\(next + $0)" }.joined(separator: ",")]
        }
        return (moved, args)
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
        let manager = LeaseManager(journal: journal)
        let held: HeldByWatchdog
        do {
            held = try HeldByWatchdog(lease, tableFD: tableFD, claimFDs: claimFDs, logger: logger)
        } catch {
            // apply has returned: the lease ends now rather than run unwatched. Exiting closes
            // the sockets, which drops the table and frees the names.
            logger.error("taking over lease \(leaseID) from apply failed: \(error)")
            _ = try? manager.revertAsWatchdog(lease)
            return 1
        }
        // Held until this process exits, which is after the bands are removed (`defer` keeps
        // them alive to the end: Swift may release an object after its last use).
        defer { held.removeTable(); withExtendedLifetime(held) {} }
        logger.info("watching lease \(leaseID) until \(lease.deadline) (\(lease.timeLeft())s on the monotonic clock)")
        guard let reason = watch(lease, held: held, manager: manager, logger: logger) else { return 0 }
        held.removeTable()
        do {
            if try manager.revertAsWatchdog(lease) {
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

    /// Waits for the lease's end and says why it ends; nil when it left the journal (reverted
    /// by another command, or deleted), which this has then finished.
    static func watch(_ lease: Lease, held: HeldByWatchdog, manager: LeaseManager, logger: Logger) -> String? {
        let journal = manager.journal
        var unreadable = false
        while true {
            let left = lease.timeLeft()
            if left <= 0 { return "deadline" }
            held.claims.forEach { $0.drain() }
            if !journal.exists(lease.id) {
                leftJournal(lease, held: held, manager: manager, logger: logger)
                return nil
            }
            // Read afresh: the state moves on as apply installs. An entry that became
            // unreadable keeps the first copy, and is still reverted by it; but only a fresh
            // read says whether apply is still installing (the first copy always does).
            let fresh = journal.read(lease.id)
            if fresh == nil && !unreadable {
                unreadable = true
                logger.warning("the journal entry of lease \(lease.id) cannot be read; the first copy stands in")
            }
            if let why = endReason(lease, fresh: fresh) { return why }
            let wake = min(left, 0.5)
            let start = MonotonicClock.nanoseconds()
            if let sig = waitForRevertSignal(timeLeft: { wake - Double(MonotonicClock.nanoseconds() - start) / 1e9 }) {
                return "signal \(sig)"
            }
        }
    }

    /// Why the lease must end now, checked every half second: the apply still installing, or
    /// the controlling process (`netfault run`, `apply --foreground`), died without finishing
    /// (SIGKILL, crash); or its namespace is gone.
    static func endReason(_ lease: Lease, fresh: Lease?) -> String? {
        if let fresh, fresh.installing, let i = fresh.installer, !i.isAlive {
            return "the process installing it (\(i.pid)) is gone"
        }
        if let c = (fresh ?? lease).controller, !c.isAlive { return "controlling process \(c.pid) is gone" }
        return namespaceGone(lease.netns)
    }

    /// Reverted by another command, or the journal entry was deleted: the bands are removed
    /// again (nothing when revert did it), since while this process holds their claims no
    /// other lease can have taken them.
    static func leftJournal(_ lease: Lease, held: HeldByWatchdog, manager: LeaseManager, logger: Logger) {
        held.removeTable()
        if lease.plan.hasTrafficControl {
            do {
                try manager.kernel.revertBands(lease.plan, in: lease.netns)
            } catch is NamespaceGone {} catch {
                logger.error("removing the bands of lease \(lease.id): \(error)")
            }
        }
        logger.info("lease \(lease.id) left the journal (reverted by another command, or deleted)")
    }
}

/// What a watchdog holds for its lease: the band claims and the socket that owns the table.
final class HeldByWatchdog {
    let claims: [Claim]
    private var nft: NFTables?
    private let filter: FilterPlan?
    private let logger: Logger

    init(_ lease: Lease, tableFD: Int32?, claimFDs: [Int32], logger: Logger) throws {
        let names = lease.plan.claimNames
        guard claimFDs.count == names.count, (tableFD != nil) == (lease.plan.filter != nil) else {
            throw ProcessError(
                "apply passed \(claimFDs.count) claims and \(tableFD == nil ? "no" : "a") table for a lease of "
                    + "\(names.count) bands and \(lease.plan.filter == nil ? "no" : "a") table")
        }
        claims = Claims.adopt(names, fds: claimFDs)
        nft = try tableFD.map { try NFTables.adopting(fd: $0) }
        filter = lease.plan.filter
        self.logger = logger
        logger.info(
            "holding lease \(lease.id): \(claims.count) band claims\(nft == nil ? "" : " and its nf_tables table")")
    }

    /// Removes the table before anything that waits for the journal's lock: a `revert`
    /// holding the lock is waiting for exactly this.
    func removeTable() {
        guard let n = nft, let filter else { return }
        nft = nil
        do { try n.remove(table: filter.table) } catch {
            logger.error("removing \(filter.table): \(error); it goes when this process exits")
        }
    }
}
