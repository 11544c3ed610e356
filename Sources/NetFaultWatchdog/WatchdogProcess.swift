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

    /// The descriptor on which a watchdog reports that it holds the lease's claims and table.
    public static let readinessFD: Int32 = 3
    /// Where a watchdog finds the netfilter socket that owns its lease's table, when apply made it.
    public static let tableFD: Int32 = 4

    public struct Started {
        public let pid: Int32
        /// nil when the watchdog was given its table and has nothing to report.
        public let readiness: Readiness?
    }

    /// A symlink in place of the watchdog's log would have root append to wherever it points.
    static func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }

    static func symlinkedLog(_ path: String) -> JournalError {
        JournalError("\(path) is a symlink; netfault will not write the watchdog's log through it. Remove it.")
    }

    /// Starts `executable __watchdog ID` detached. Given `table`, the netfilter socket that owns
    /// the lease's table, it passes it on as fd 4 and the watchdog has nothing to set up.
    /// Otherwise a pipe on fd 3 carries one line once the watchdog holds the lease's band claims
    /// and its nf_tables table is in place, or why not.
    public static func spawn(executable: String, leaseID: String, logPath: String, table: Int32? = nil) throws -> Started {
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
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw ProcessError("cannot make a pipe for the watchdog: \(String(cString: strerror(errno)))")
        }
        var keepRead = false
        defer { close(fds[1]); if !keepRead { close(fds[0]) } }
        // Both ends close-on-exec, so neither leaks into other children; the dup2 below gives
        // the watchdog its own, without the flag.
        for fd in fds where fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 {
            throw ProcessError("cannot make the watchdog's pipe close-on-exec: \(String(cString: strerror(errno)))")
        }
        var args = [executable, command, leaseID]
        if let table {
            // dup2 leaves the copy without close-on-exec; the original keeps it.
            try check(posix_spawn_file_actions_adddup2(&actions, table, tableFD), "giving it the table's socket")
            args += ["--table-fd", "\(tableFD)"]
        } else {
            try check(posix_spawn_file_actions_adddup2(&actions, fds[1], readinessFD), "giving it the readiness pipe")
            args += ["--ready-fd", "\(readinessFD)"]
        }
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, &cargs, environ)
        guard rc == 0 else {
            if rc == ELOOP && isSymlink(logPath) { throw symlinkedLog(logPath) }  // made one since the check
            throw ProcessError("cannot start the watchdog (\(executable)): \(String(cString: strerror(rc)))")
        }
        keepRead = table == nil
        return Started(pid: pid, readiness: table == nil ? Readiness(fd: fds[0], logPath: logPath) : nil)
    }

    /// Why the lease's namespace is gone (`ip netns del`), or nil. This process's claims and
    /// table socket would keep it, and everything in it, alive until the deadline: the
    /// watchdog reverts at once instead, which removes the lease from the journal (there is
    /// nothing to remove in the namespace) and, by exiting, lets the namespace go.
    static func namespaceGone(_ netns: NetworkNamespace?) -> String? {
        guard let netns, netns.isGone else { return nil }
        return "its network namespace \(netns.label) is gone: \(netns.path) no longer names it"
    }

    /// The watchdog's life: claim the lease's bands and install its netfilter table (its socket
    /// owns it; both go with this process, however it ends), wait for the deadline or a
    /// signal, then revert. Returns the exit status.
    /// `tableFD`: the socket apply made the lease's table with, which this process now owns.
    public static func run(
        leaseID: String, journal: Journal, logger: Logger, readyFD: Int32? = nil, tableFD: Int32? = nil
    ) -> Int32 {
        blockRevertSignals()  // already blocked by spawn; harmless when run by hand
        signal(SIGPIPE, SIG_IGN)  // an apply that gave up waiting must not kill us mid-report
        let report = { (r: Readiness.Report) in if let readyFD { Readiness.send(r, fd: readyFD) } }
        guard let lease = journal.read(leaseID) else {
            logger.info("lease \(leaseID) is not in the journal; nothing to watch")
            report(.init(message: "lease \(leaseID) is not in the journal"))
            return 0
        }
        // Held until this process exits, which is after the bands are removed (`defer` keeps
        // them alive to the end: Swift may release an object after its last use).
        let claims: [Claim]
        do {
            claims = try Claims.take(
                lease.plan.bands.map { Claims.band(device: $0.device, band: $0.band) }, in: lease.netns)
        } catch {
            logger.error("claiming the bands of lease \(leaseID) failed: \(error)")
            report(.init(error))
            return 1
        }
        var nft: NFTables?
        if let tableFD, let filter = lease.plan.filter {
            do {
                nft = try NFTables.adopting(fd: tableFD)
                logger.info("holding nf_tables table \(filter.table), installed by apply")
            } catch {
                // apply has returned: the lease ends now rather than run unwatched. Closing the
                // socket drops the table.
                close(tableFD)
                logger.error("taking over the socket of table \(filter.table) failed: \(error)")
                _ = try? LeaseManager(journal: journal).revertAsWatchdog(lease)
                return 1
            }
        } else if let filter = lease.plan.filter {
            do {
                let n = try NFTables.open(in: lease.netns)
                // The set's elements expire at the deadline: from here on the kernel ends the
                // faults on time whatever becomes of this process.
                let left = lease.timeLeft()
                try n.install(filter, timeout: Duration(nanoseconds: Int64(left * 1e9)))
                nft = n
                logger.info(
                    "installed nf_tables table \(filter.table) with \(filter.rules.count) rules, expiring in \(left)s")
            } catch {
                logger.error("installing nf_tables table \(filter.table) failed: \(error)")
                report(.init(error))
                return 1
            }
        }
        report(.init())
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
                if !lease.plan.bands.isEmpty || !lease.plan.redirects.isEmpty {
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

/// The one line a watchdog writes when its part of a lease is in place, or why it is not, and
/// the apply side that waits for it.
public struct Readiness {
    let fd: Int32
    let logPath: String
    /// How long apply waits for the watchdog to start and install (a process start is slow
    /// under user-mode Linux).
    static let timeout: Double = 20

    struct Report: Codable {
        var ok = true
        var operation: String?
        var errno: Int32?
        var extendedAck: String?
        var message: String?
        /// A band claim another netfault holds: apply plans again.
        var claimTaken: String?
        init() {}
        init(message: String) { ok = false; self.message = message }
        init(_ error: Error) {
            ok = false
            if let c = error as? ClaimTaken {
                claimTaken = c.name
            } else if let k = error as? KernelError {
                operation = k.operation; errno = k.errno; extendedAck = k.extendedAck
            } else {
                message = "\(error)"
            }
        }
    }

    static func send(_ report: Report, fd: Int32) {
        var line = (try? JSONEncoder().encode(report)) ?? Data()
        line.append(0x0a)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// Waits for the report; throws the watchdog's error as this process's own.
    public func wait() throws {
        defer { close(fd) }
        var data = Data()
        let end = Date().addingTimeInterval(Self.timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while !data.contains(0x0a) {
            let left = end.timeIntervalSinceNow
            guard left > 0 else {
                throw ProcessError(
                    "the watchdog did not take up its lease within \(Int(Self.timeout))s; see \(logPath)")
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(left * 1000))
            if r < 0 {
                // Anything but an interruption would only repeat until the timeout.
                guard errno == EINTR else {
                    throw ProcessError("waiting for the watchdog: poll: \(String(cString: strerror(errno)))")
                }
                continue
            }
            guard r > 0 else { continue }
            let n = read(fd, &buf, buf.count)
            if n < 0 {
                guard errno == EINTR else {
                    throw ProcessError("reading the watchdog's report: \(String(cString: strerror(errno)))")
                }
                continue
            }
            guard n > 0 else { break }
            data.append(contentsOf: buf[0..<n])
        }
        guard let line = data.split(separator: 0x0a).first,
            let report = try? JSONDecoder().decode(Report.self, from: Data(line))
        else {
            throw ProcessError("the watchdog exited before taking up its lease; see \(logPath)")
        }
        if report.ok { return }
        if let name = report.claimTaken { throw ClaimTaken(name: name) }
        if let e = report.errno {
            throw KernelError(
                operation: report.operation ?? "installing nf_tables rules", errno: e, extendedAck: report.extendedAck)
        }
        throw ProcessError(report.message ?? "the watchdog could not take up its lease")
    }
}
