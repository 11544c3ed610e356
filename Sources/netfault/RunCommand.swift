import ArgumentParser
import CProcess
import Dispatch
import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel
import NetFaultCommand
import NetFaultLeases

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        _superCommandName: NetFault.superCommandName,
        abstract: "Run a command with faults in force, and revert them when it ends.",
        discussion: """
            Applies the faults under a lease, runs COMMAND, reverts when it exits, and exits with its \
            status (128+N when a signal N ended it). SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and \
            SIGUSR2 sent to netfault are passed on to the command. If netfault itself is killed, even \
            with SIGKILL, its watchdog notices within a second and reverts.

            --after and --every/--on start the command first and put the faults in later, or \
            in and out on a schedule (transient outages); each on-period is a lease of its own, \
            ended at the period's end by the kernel where nf_tables works, else by its watchdog. \
            --on and the gap between on-periods must each be 100ms or more.

            When the faults are reverted, netfault says how many packets each lease matched. A fault \
            that matched none changed nothing: the client may use a Unix socket ("localhost" in many \
            MySQL and Redis clients) or another port (Docker's port publishing). With \
            --expect-traffic, run then exits 65 instead of the command's status.

            Under sudo the command runs as the invoking user (SUDO_UID, SUDO_GID, that user's \
            supplementary groups and HOME), never as root, unless --as-root is given or that user is \
            root. When the command cannot be started as that user (setgroups, setgid or setuid \
            fails), netfault says which call failed and why, and exits 126; when the command is not \
            found, 127.

            Examples:
              sudo netfault run redis --delay 100ms -- pytest tests/test_cache.py
              netfault run mysql --loss 10% --for 10m -- ./integration-tests.sh
              netfault run redis --loss 100% --after 5s --every 10s --on 2s -- ./soak.sh
              netfault run redis --reset --after 3s -- ./test-reconnect.sh
              netfault run redis --hang --connections every:3 -- ./test-pool.sh
              netfault run redis --reject --scope command -- pytest tests/test_cache.py::test_down
              netfault run mysql --blackhole --after 10s --every 30s --on 5s -- ./drill.sh
            """)

    @OptionGroup var lease: LeaseOptions

    @Option(
        name: .customLong("for"),
        help: ArgumentHelp(
            "The longest the faults stay, even if the command runs on (at most 24h).", valueName: "duration"))
    var duration: String = "24h"

    @Flag(
        name: .customLong("expect-traffic"),
        help: "Exit 65 when the faults matched no packet, whatever the command's status (a test that proved nothing).")
    var expectTraffic = false

    @Flag(name: .customLong("as-root"), help: "Under sudo, run the command as root instead of the invoking user.")
    var asRoot = false

    @Option(help: ArgumentHelp("Start the command first and put the faults in this much later.", valueName: "duration"))
    var after: String?

    @Option(
        help: ArgumentHelp(
            "Flap: put the faults in once every this long (with --on), for transient outages.", valueName: "duration"))
    var every: String?

    @Option(
        help: ArgumentHelp(
            "With --every: how long the faults stay in each time (100ms or more, and 100ms less than --every).",
            valueName: "duration"))
    var on: String?

    @Option(
        help: ArgumentHelp(
            """
            command: the faults take only the connections the command and the processes it starts open (both \
            ways; netem faults too, on packets leaving this host), not other processes' connections to the same \
            server: two runs at once each see their own faults. The command runs in a cgroup v2 made for it, \
            netfault-run-PID (run's pid) below netfault's own cgroup, which is ended (cgroup.kill) and removed \
            with the lease, by the watchdog if netfault is killed. Needs a writable cgroup2 mount. Not with \
            --uid or --cgroup, nor with --after or --every (exit 64): a scoped lease takes only connections \
            opened after it goes in, and one put in while the command runs would miss those it holds.
            """,
            valueName: "whose"))
    var scope: String?

    @Flag(
        name: .customLong("dry-run"),
        help:
            """
            Print the tc, ip and nft commands that would put the faults in, and neither change anything nor run the \
            command.
            """
    )
    var dryRun = false

    @Argument(
        parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        if command.isEmpty {
            throw ValidationError("give the command to run after --, e.g. netfault run redis --delay 100ms -- pytest")
        }
    }

    func run() throws {
        var status: Int32 = 0
        try reporting(endsSoon: false) {
            let (checked, schedule) = try validated()
            let request = checked
            if dryRun {
                let journal = try Journal()
                let policy = leasePolicy(for: request, journal: journal)
                try printPreview(
                    try LeaseManager(journal: journal).preview(request, policy: policy), request, json: false)
                return
            }
            let identity = try CommandIdentity.forRun(asRoot: asRoot)
            try requireNetAdmin()
            let journal = try Journal()
            try requireFeatures(neededFeatures(request), journal: journal)
            let policy = leasePolicy(for: request, journal: journal)
            let manager = LeaseManager(journal: journal)
            if !schedule.fromStart {
                status = try runScheduled(request: request, policy: policy, schedule: schedule, identity: identity)
                return
            }
            // The command's cgroup, ended and removed however the run ends (the lease's revert also does).
            let cgroup = scope == nil ? nil : try RunCgroup.make()
            defer { cgroup?.end() }
            let scoped = cgroup.map { request.scoped(.cgroup($0.scope)) } ?? request
            // The faults go in before the command starts, so it never runs without them.
            let lease = try applyNoting(manager, scoped, policy: policy)
            do {
                status = waitForwardingSignals(
                    try startCommand(command, as: identity, cgroupProcs: cgroup?.procs ?? -1))
            } catch {
                _ = try? manager.revert(id: lease.id)
                throw error
            }
            let counts = try manager.revertCounting(id: lease.id)
            let matched = counts.matched
            let drawn = counts.drawn.map { "; " + drawnText($0, groups: counts.drawnGroups) } ?? ""
            let count = (matched.map(matchedText) ?? "not read back") + drawn
            note("lease \(lease.id) reverted (\(count)); the command exited with \(status)")
            status = trafficStatus(status, matched: matched ?? 0)
        }
        throw ExitCode(status)
    }

    /// The request and the schedule, parsed and checked; touches nothing.
    func validated() throws -> (FaultRequest, Schedule) {
        if let scope, scope != "command" {
            throw InputError("--scope '\(scope)' is not one of: command (the command's own connections)")
        }
        // For --dry-run and the checks: the cgroup is made after them, just before the lease.
        let planned = CgroupScope(path: "/\(RunCgroup.namePrefix)\(getpid())", id: 0, level: 1, madeForRun: true)
        let request = try lease.request(duration: duration, commandScope: scope == nil ? nil : .cgroup(planned))
        let schedule = try Schedule.parse(after: after, every: every, on: on)
        try schedule.validate(within: request.duration)
        if scope != nil && !schedule.fromStart {
            throw InputError(
                """
                --scope command takes the faults from the start: a scoped lease takes only the connections opened \
                after it goes in, so one put in while the command runs (--after, --every) would miss the connections \
                it already holds; leave out --after and --every
                """)
        }
        return (request, schedule)
    }

    /// Exit status for --expect-traffic: the faults matched no packet at all.
    static let noTraffic: Int32 = 65

    /// The command's status, or 65 under --expect-traffic when nothing matched.
    func trafficStatus(_ status: Int32, matched: UInt64) -> Int32 {
        guard expectTraffic, matched == 0 else { return status }
        note("--expect-traffic: the faults matched no packet; exiting \(Self.noTraffic) instead of \(status)")
        return Self.noTraffic
    }

    /// `warning`: whether to add what would make the faults act otherwise than asked (once a
    /// run: each on-period of a schedule has the same faults on the same device).
    func applyNoting(
        _ manager: LeaseManager, _ request: FaultRequest, policy: LeasePolicy, warning: Bool = true
    ) throws -> Lease {
        let lease = try manager.apply(
            request, policy: policy, executable: selfExecutable(), controller: ProcessIdentity.current()
        ).lease
        let via = lease.device.isEmpty ? "" : " via \(lease.device)"
        note("lease \(lease.id) in force: \(lease.summary) on \(lease.target), \(lease.direction.rawValue)\(via)")
        if warning { warn(offloadWarnings(lease.netem, device: lease.device, netns: lease.netns)) }
        return lease
    }

    /// Starts the command, then puts the faults in and out on the schedule from another
    /// thread until the command ends. Each on-period is its own lease, whose deadline is the
    /// period's end, so the watchdog ends it even if this process cannot.
    /// `policy`: the command's, resolved once; every period is planned with it.
    func runScheduled(
        request: FaultRequest, policy: LeasePolicy, schedule: Schedule, identity: CommandIdentity
    ) throws -> Int32 {
        // Its own journal handle for the schedule thread: the lock is an flock per open file, so
        // threads exclude each other just as processes do.
        let manager = LeaseManager(journal: try Journal())
        let pid = try startCommand(command, as: identity)
        // Written on the schedule thread only; read once finish() has joined it.
        var matched: UInt64 = 0, warned = false
        let periods = try ScheduleThread(
            schedule, limit: request.duration,
            onError: { kill(pid, SIGTERM) }  // the command must not go on believing the faults ran
        ) { clock, start, end in
            // Until the period's end on the schedule's clock, however late this period began.
            let length = Duration(nanoseconds: end.nanoseconds - max(start, clock.elapsed).nanoseconds)
            guard length.nanoseconds >= 1_000_000 else { return true }
            let lease = try self.applyNoting(manager, request.lasting(length), policy: policy, warning: !warned)
            warned = true
            // Counted a moment before the end: at the end its watchdog may revert it first.
            var stillRunning = clock.sleep(until: Duration(nanoseconds: end.nanoseconds - 100_000_000))
            let n = manager.packetsMatched(id: lease.id)
            if stillRunning { stillRunning = clock.sleep(until: end) }
            try manager.revert(id: lease.id)
            matched += n ?? 0
            note("lease \(lease.id) reverted (\(n.map(matchedText) ?? "not read back"))")
            return stillRunning
        }
        let status = waitForwardingSignals(pid)
        try periods.finish()
        if periods.missed > 0 {
            note("\(periods.missed) on-period(s) missed: an earlier period's apply or revert ran past their end")
        }
        note("the command exited with \(status)")
        return trafficStatus(status, matched: matched)
    }
}
