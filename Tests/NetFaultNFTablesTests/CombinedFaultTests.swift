import Foundation
import TestSupport
import Testing

/// Both kinds of fault at once: netem through traffic control and connection faults through
/// nf_tables, in one lease and in two. Only a kernel with both can run them: Debian's own in a
/// VM (scripts/vm-test); this host has no netem and user-mode Linux has no nf_tables.
/// Timers under the VM's emulation are coarse, so the delay is large (500ms) and the bounds wide:
/// these tests judge behaviour; the delay's precision is judged in user-mode Linux.
@Suite(.serialized, .enabled(if: NFT.netem, NFT.netemReason))
struct CombinedFaultTests {
    static let delayMs = 500.0

    /// What status --json read back from the kernel for a lease: its netem delay and its rules.
    func readBack(_ lease: [String: Any]) -> (delay: String?, rules: [[String: Any]], tablePresent: Bool?) {
        let installed = lease["installed"] as? [[String: Any]] ?? []
        let delay = installed.compactMap { ($0["faults"] as? [String: Any])?["delay"] as? String }.first
        return (delay, lease["rules"] as? [[String: Any]] ?? [], lease["table_present"] as? Bool)
    }

    @Test(
        """
        --delay 500ms --reject in one lease: open connections are delayed, new ones refused; status shows both; \
        revert restores tc and nf_tables
        """
    )
    func delayAndRejectInOneLease() throws {
        try withServers(mariadb: false) { ns in
            let tcBefore = try ns.tcState()
            let held = try ns.hold("redis", "127.0.0.1", 6379, timeout: 5)
            let lease = try ns.apply("redis", "--delay", "500ms", "--reject", "--for", "2m")
            #expect(try ns.tcState() != tcBefore, "no traffic-control objects were installed")
            #expect(try ns.tables().contains("table inet netfault-\(lease.id)"))

            // An open connection goes on, with each request delayed; a new one is refused at once.
            let ping = try held.next()
            #expect(ping.outcome == "ok" && ping.elapsedMs >= Self.delayMs * 0.9, "\(ping)")
            let connect = try ns.probe("connect", "127.0.0.1", 6379)
            #expect(connect.outcome == "refused" && connect.errno == Int(ECONNREFUSED), "\(connect)")

            // The text and the JSON both show what the kernel holds of each kind.
            let text = try ns.netfault("status").stdout
            #expect(
                text.contains("delay 500ms, reject") && text.contains("netem")
                    && text.contains("nf_tables table inet netfault-\(lease.id)"), "\(text)")
            let entry = try #require(try ns.statusLeases().first { $0["lease"] as? String == lease.id })
            let back = readBack(entry)
            #expect(back.delay == "500ms", "\(entry)")
            #expect(back.tablePresent == true)
            // The reject rule, and the rule that steers the lease's packets (to the server: the
            // default direction) to its netem band.
            let reject = back.rules.filter { ($0["rule"] as? String ?? "").contains("reject") }
            let steer = back.rules.filter { ($0["rule"] as? String ?? "").contains("meta priority set 6e66:") }
            let counted = reject.reduce(0) { $0 + ($1["packets"] as? Int ?? 0) }
            #expect(reject.count == 1 && counted >= 1, "the reject rule counted the refused SYN: \(back.rules)")
            #expect(steer.count == 1 && back.rules.count == 2, "\(back.rules)")
            #expect(entry["deadline_enforced_by"] as? String == "kernel", "\(entry)")

            let revert = try ns.revert(lease.id)
            #expect(revert.status == 0, "\(revert.stderr)")
            #expect(try ns.tcState() == tcBefore)
            try ns.expectBaseline()
            let after = try ns.probe("redis-ping", "127.0.0.1", 6379)
            #expect(after.outcome == "ok" && after.elapsedMs < Self.delayMs / 2, "\(after)")
        }
    }

    @Test(
        """
        a delay on one port and a blackhole on another, two leases at once: each port gets its own fault; revert of \
        one leaves the other
        """
    )
    func delayAndBlackholeOnTwoPorts() throws {
        try withServers(mariadb: true) { ns in
            let tcBefore = try ns.tcState()
            let held = try ns.hold("redis", "127.0.0.1", 6379, timeout: 5)
            let delay = try ns.apply("redis", "--delay", "500ms", "--for", "2m")
            let blackhole = try ns.apply("mysql", "--blackhole", "--for", "2m")
            #expect(
                delay.output["table"] as? String == "netfault-\(delay.id)",
                "a netem lease's packets are steered by a table of its own: \(delay.output)")
            #expect(
                (blackhole.output["device"] as? String ?? "x").isEmpty,
                "a connection-only lease has no device: \(blackhole.output)")

            let ping = try held.next()
            #expect(ping.outcome == "ok" && ping.elapsedMs >= Self.delayMs * 0.9, "\(ping)")
            let mysql = try ns.probe("mysql-ping", "127.0.0.1", 3306)
            #expect(mysql.outcome == "timeout", "\(mysql)")

            let leases = try ns.statusLeases()
            #expect(Set(leases.compactMap { $0["lease"] as? String }) == [delay.id, blackhole.id], "\(leases)")
            for entry in leases {
                let back = readBack(entry)
                if entry["lease"] as? String == delay.id {
                    let steering = back.rules.allSatisfy { ($0["rule"] as? String ?? "").contains("meta priority set") }
                    #expect(back.delay == "500ms" && back.rules.count == 1 && steering, "\(entry)")
                } else {
                    #expect(back.delay == nil && back.rules.count == 1 && back.tablePresent == true, "\(entry)")
                }
            }

            // Reverting the blackhole leaves the delay (and its table), and the other way round.
            #expect(try ns.revert(blackhole.id).status == 0)
            let tables = try ns.tables()
            #expect(
                !tables.contains("netfault-\(blackhole.id)") && tables.contains("netfault-\(delay.id)"), "\(tables)")
            #expect(try ns.probe("mysql-ping", "127.0.0.1", 3306).outcome == "ok")
            let delayed = try ns.probe("redis-ping", "127.0.0.1", 6379, timeout: 5)
            #expect(delayed.outcome == "ok" && delayed.elapsedMs >= Self.delayMs * 0.9, "\(delayed)")
            #expect(try ns.revert(delay.id).status == 0)
            #expect(try ns.tcState() == tcBefore)
            try ns.expectBaseline()
        }
    }

    @Test("run --delay 500ms --every 6s --on 5s: every period's band is steered by its lease's table (kernel-enforced)")
    func scheduledNetemPeriods() throws {
        try withServers(mariadb: false) { ns in
            let tcBefore = try ns.tcState()
            try expectEveryPeriodKernelEnforced(ns, ["--delay", "500ms"])
            #expect(try ns.tcState() == tcBefore)
            try ns.expectBaseline()
        }
    }

    @Test("the watchdog of a lease with both kinds killed: the table goes at once, the netem band at the next sweep")
    func watchdogKilled() throws {
        try withServers(mariadb: false) { ns in
            let tcBefore = try ns.tcState()
            let lease = try ns.apply("redis", "--delay", "500ms", "--reject", "--for", "2m")
            let pid = try #require(lease.output["watchdog_pid"] as? Int, "watchdog_pid in \(lease.output)")
            #expect(kill(pid_t(pid), SIGKILL) == 0)
            let gone = try ns.awaitTableGone("netfault-\(lease.id)", seconds: 2)
            #expect(gone, "the table outlived its watchdog by 2s: \((try? ns.tables()) ?? "")")
            // The kernel holds the netem band until a netfault command sweeps the dead lease, but
            // nothing reaches it any more: the rules that steered packets there went with the table.
            #expect(try ns.tcState() != tcBefore, "the band went without a sweep")
            let start = monotonicMs()
            #expect(try awaitUndelayed(ns, seconds: 10, start: start).ended, "still delayed 10s after the table went")
            let status = try ns.netfault("status", "--json")
            #expect(status.status == 0, "\(status.stderr)")
            #expect(try ns.tcState() == tcBefore, "the sweep left traffic-control objects")
            #expect(try ns.statusLeases().isEmpty)
            ns.forget(lease.id)
            try ns.expectBaseline()
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379).outcome == "ok")
        }
    }

    /// One `redis-cli ping` (a C client: a Python start takes seconds under the VM's emulation)
    /// and how long it took, in ms. To the server, on loopback, the delay applies twice: to the
    /// SYN and to the PING.
    func redisCLI(_ ns: Namespace) throws -> (ok: Bool, ms: Double) {
        let start = monotonicMs()
        let r = try ns.exec("redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping")
        return (r.status == 0 && r.stdout.contains("PONG"), monotonicMs() - start)
    }

    /// Whether a redis-cli ping went through undelayed. A delayed one waits at least twice the
    /// delay (its SYN, then its PING); an emulated process start alone can take half a second.
    static func undelayed(_ p: (ok: Bool, ms: Double)) -> Bool { p.ok && p.ms < 1.5 * delayMs }

    /// Pings until one is not delayed or `seconds` pass. Returns when the last delayed ping
    /// started (it saw the fault still in force then), and whether an undelayed one came, in ms
    /// since `start`. A ping takes twice the delay plus an emulated process start, so when the
    /// first undelayed one ends says little about when the fault ended.
    func awaitUndelayed(_ ns: Namespace, seconds: Double, start: Double) throws -> (lastDelayed: Double, ended: Bool) {
        var lastDelayed = 0.0
        while monotonicMs() - start < seconds * 1000 {
            let began = monotonicMs() - start
            if Self.undelayed(try redisCLI(ns)) { return (lastDelayed, true) }
            lastDelayed = began
        }
        return (lastDelayed, false)
    }

    /// A lease with `fault` (netem on leaving traffic, or a connection fault) whose watchdog is
    /// then disabled by `disable`: the fault must end within 1s of the deadline with no netfault
    /// command run. redis-cli shows it: delayed, or refused, while the fault holds.
    func expectKernelEnds(
        _ fault: [String], _ disable: (pid_t, String) throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try withServers(mariadb: false) { ns in
            let seconds = 6.0
            let start = monotonicMs()
            let lease = try ns.apply(["redis"] + fault + ["--for", "\(Int(seconds))s"])
            let returned = monotonicMs()
            #expect(lease.output["deadline_enforced_by"] as? String == "kernel", sourceLocation: sourceLocation)
            let pid = pid_t(try #require(lease.output["watchdog_pid"] as? Int))
            defer { kill(pid, SIGCONT) }
            let during = try redisCLI(ns)
            #expect(!during.ok || during.ms >= 2 * Self.delayMs, "faulted while in force: \(during)", sourceLocation: sourceLocation)
            try disable(pid, lease.id)
            // The deadline is at most `seconds` after apply returned.
            let seen = try awaitUndelayed(ns, seconds: (returned - start) / 1000 + seconds + 10, start: start)
            let limit = returned - start + (seconds + 1) * 1000
            #expect(seen.ended, "the fault never ended", sourceLocation: sourceLocation)
            #expect(
                seen.lastDelayed <= limit,
                "a ping started \(Int(seen.lastDelayed)) ms after apply still met the fault, limit \(Int(limit)) ms",
                sourceLocation: sourceLocation)
            trace("\(fault.joined(separator: " ")): last faulted ping began \(Int(seen.lastDelayed)) ms after apply (limit \(Int(limit)) ms)")
            // Then the next command, more than 1s after the deadline, cleans up what is left
            // (it takes a stopped watchdog for dead).
            while monotonicMs() < returned + (seconds + 1.5) * 1000 { usleep(50_000) }
            #expect(try ns.netfault("status").status == 0)
            ns.forget(lease.id)
            try ns.expectBaseline()
        }
    }

    static let delay = ["--delay", "500ms"]

    /// What happens to a lease's watchdog, each with a fault on leaving traffic (netem) and a
    /// connection fault: the kernel must end both within 1s of the deadline, no command run.
    enum WatchdogEvent: String, CaseIterable, CustomTestStringConvertible {
        case killed = "watchdog SIGKILLed", stopped = "watchdog SIGSTOPped", entryDeleted = "journal entry deleted"
        var testDescription: String { rawValue }
    }

    @Test(
        "netem on leaving traffic and --reject: the fault ends within 1s of its deadline whatever befalls the watchdog",
        arguments: WatchdogEvent.allCases, [delay, ["--reject"]])
    func kernelEndsFault(event: WatchdogEvent, fault: [String]) throws {
        try expectKernelEnds(fault) { pid, id in
            switch event {
            case .killed: #expect(kill(pid, SIGKILL) == 0)
            case .stopped: #expect(kill(pid, SIGSTOP) == 0)
            case .entryDeleted: try FileManager.default.removeItem(atPath: "\(stateDir)/leases/\(id).json")
            }
        }
    }

    @Test(
        """
        netem on requests arriving from another host goes through an ifb, which tc sees before netfilter: \
        the lease says the watchdog keeps its deadline, and the watchdog ends it on time
        """
    )
    func arrivingTrafficIsWatchdogEnforced() throws {
        try withTwoHosts { server, client, veth in
            // Without --iface a local server's netem lease goes on lo (docs/containers.md). A
            // process start in the emulated VM takes a second or more: the lease is long enough
            // for the checks below to run while it holds.
            let seconds = 8.0
            let lease = try server.apply("redis", "--delay", "500ms", "--iface", veth, "--for", "\(Int(seconds))s")
            let returned = monotonicMs()
            let during = try probe(fromHost: client, "redis-ping", timeout: 5)
            #expect(during.outcome == "ok" && during.elapsedMs >= Self.delayMs * 0.9, "\(during)")
            #expect(lease.output["server"] as? String == "local", "\(lease.output)")
            #expect(lease.output["deadline_enforced_by"] as? String == "watchdog", "\(lease.output)")
            let devices = (lease.output["installed"] as? [[String: Any]] ?? []).compactMap { $0["device"] as? String }
            #expect(devices.count == 1 && devices[0].hasPrefix("nfifb"), "an ifb band only: \(devices)")
            let status = try server.netfault("status").stdout
            #expect(status.contains("deadline enforced by: watchdog"), "\(status)")
            // No command runs until the fault has gone: the watchdog ends it by itself.
            var lastDelayed = 0.0, undelayed: Probe?
            while undelayed == nil && monotonicMs() < returned + (seconds + 10) * 1000 {
                let began = monotonicMs() - returned
                let p = try probe(fromHost: client, "redis-ping", timeout: 5)
                if p.outcome == "ok" && p.elapsedMs < Self.delayMs * 0.9 { undelayed = p } else { lastDelayed = began }
            }
            #expect(undelayed != nil, "the delay never ended")
            #expect(
                lastDelayed <= (seconds + 1) * 1000,
                "a ping begun \(Int(lastDelayed)) ms after apply still met the \(Int(seconds))s lease")
            server.forget(lease.id)
            let links = try server.exec("ip", "-o", "link", "show").stdout
            #expect(!links.contains("nfifb"), "the watchdog removed the ifb device: \(links)")
        }
    }

    /// Steps the clock of the VM (never a host's) back an hour, and forward again afterwards.
    static let canStepClock = ProcessInfo.processInfo.environment["NETFAULT_KERNEL_TESTS"] == "vm"

    @Test(
        "netem on leaving traffic and --reject, the clock stepped back an hour: both end on time",
        .enabled(if: canStepClock, "steps the VM's clock only"), arguments: [delay, ["--reject"]])
    func clockSteppedBack(fault: [String]) throws {
        defer { _ = try? run("date", ["-s", "+1 hour"]) }
        try expectKernelEnds(fault) { _, _ in
            let step = try run("date", ["-s", "-1 hour"])
            #expect(step.status == 0, "\(step.stderr)")
        }
    }

    @Test(
        "run --after 3s with the clock stepped back an hour once its command started: the faults go in 3s after all",
        .enabled(if: canStepClock, "steps the VM's clock only"))
    func runScheduleIgnoresClockStep() throws {
        try withServers(mariadb: false) { ns in
            let started = "\(ns.dir)/started"
            let runner = try spawn(
                [
                    netfaultPath, "run", "redis", "--reject", "--after", "3s", "--for", "30s", "--netns", ns.name, "--",
                    "sh", "-c", "touch \(started); sleep 10"
                ], captureOutput: true)
            // The schedule counts from the command's start: step the clock once that is past.
            while !FileManager.default.fileExists(atPath: started) && waitpid(runner.pid, nil, WNOHANG) == 0 {
                usleep(20_000)
            }
            let commandStarted = monotonicMs()
            usleep(500_000)
            defer { _ = try? run("date", ["-s", "+1 hour"]) }
            #expect(try run("date", ["-s", "-1 hour"]).status == 0)
            var refused = false
            while !refused && monotonicMs() < commandStarted + 9_000 {
                refused = try ns.probe("connect", "127.0.0.1", 6379).outcome == "refused"
            }
            #expect(refused, "the fault of --after 3s never went in: the schedule waited on the stepped wall clock")
            let r = collect(runner)
            #expect(r.status == 0, "\(r.stderr)")
            try ns.expectBaseline()
        }
    }

    @Test("revert --all with the journal deleted removes both kinds by their marks, and nothing of the user's")
    func revertAllWithoutJournal() throws {
        try withServers(mariadb: false) { ns in
            let tcBefore = try ns.tcState()
            let empty = ns.baseline
            _ = try ns.exec("nft", "add", "table", "inet", "user_table")
            ns.baseline = try ns.ruleset()
            let lease = try ns.apply("redis", "--delay", "500ms", "--reject", "--for", "2m")
            let pid = try #require(lease.output["watchdog_pid"] as? Int)
            // Lost state: the journal entry deleted, then the watchdog killed (the table goes with it).
            try FileManager.default.removeItem(atPath: "\(stateDir)/leases/\(lease.id).json")
            kill(pid_t(pid), SIGKILL)
            #expect(try ns.awaitTableGone("netfault-\(lease.id)", seconds: 2))
            #expect(try ns.tcState() != tcBefore)
            let revert = try ns.netfault("revert", "--all", "--json")
            #expect(revert.status == 0, "\(revert.stderr)")
            #expect(try ns.tcState() == tcBefore)
            ns.forget(lease.id)
            try ns.expectBaseline()
            _ = try ns.exec("nft", "delete", "table", "inet", "user_table")
            ns.baseline = empty
        }
    }
}
