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
            let watch = try ExchangeStream(namespace: ns.name, host: "127.0.0.1", port: 6379)
            defer { watch.stop() }
            let lease = try ns.apply("redis", "--delay", "500ms", "--reject", "--for", "2m")
            let pid = try #require(lease.output["watchdog_pid"] as? Int, "watchdog_pid in \(lease.output)")
            #expect(kill(pid_t(pid), SIGKILL) == 0)
            let gone = try ns.awaitTableGone("netfault-\(lease.id)", seconds: 2)
            #expect(gone, "the table outlived its watchdog by 2s: \((try? ns.tables()) ?? "")")
            // The kernel holds the netem band until a netfault command sweeps the dead lease, but
            // nothing reaches it any more: the rules that steered packets there went with the table.
            #expect(try ns.tcState() != tcBefore, "the band went without a sweep")
            let after = monotonicMs()
            let ended = watch.read(seconds: 10) { $0.contains { $0.began >= after && !Self.delayed($0) } }
            #expect(ended, "still delayed 10s after the table went: \(watch.exchanges.suffix(5))")
            let status = try ns.netfault("status", "--json")
            #expect(status.status == 0, "\(status.stderr)")
            #expect(try ns.tcState() == tcBefore, "the sweep left traffic-control objects")
            #expect(try ns.statusLeases().isEmpty)
            ns.forget(lease.id)
            try ns.expectBaseline()
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379).outcome == "ok")
        }
    }

    /// Whether an exchange met the delay: to a local server both its SYN and its PING wait (an
    /// undelayed exchange takes milliseconds, so the margin on either side is wide).
    static func delayed(_ e: Exchange) -> Bool { e.outcome == "ok" && e.elapsed >= 1.8 * delayMs }

    /// A lease with `fault` (netem on leaving traffic, or a connection fault) whose watchdog is
    /// then disabled by `disable`: the fault must end within 1s of the deadline the kernel holds
    /// (its port set's element), with no netfault command run. One probe process, started before
    /// the lease, stamps each exchange: delayed, or refused, while the fault holds. `delayed`: the
    /// fault delays (a netem fault beside other options); nil: the fault is `delay` itself.
    /// `tcAsBefore`: traffic control too must be as before once the next command has swept.
    func expectKernelEnds(
        _ fault: [String], delayed: Bool? = nil, tcAsBefore: Bool = false, _ disable: (pid_t, String) throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let delay = delayed ?? (fault == Self.delay)
        let faulted = { (e: Exchange) -> Bool in delay ? Self.delayed(e) : e.outcome == "refused" }
        try withServers(mariadb: false) { ns in
            let tcBefore = try ns.tcState()
            let watch = try ExchangeStream(namespace: ns.name, host: "127.0.0.1", port: 6379)
            defer { watch.stop() }
            // Long enough for the checks below to run while it holds when a process start takes
            // seconds (a busy host under the VM's emulation).
            let lease = try ns.apply(["redis"] + fault + ["--for", "15s"])
            let inForce = monotonicMs()
            let deadline = try kernelDeadline(ns, lease: lease.id)
            #expect(lease.output["deadline_enforced_by"] as? String == "kernel", sourceLocation: sourceLocation)
            let pid = pid_t(try #require(lease.output["watchdog_pid"] as? Int))
            defer { kill(pid, SIGCONT) }
            let met = watch.read(seconds: max(0, deadline - inForce) / 1000) {
                $0.contains { $0.began >= inForce && faulted($0) }
            }
            #expect(met, "no exchange met the fault while it held: \(watch.exchanges.suffix(5))", sourceLocation: sourceLocation)
            try disable(pid, lease.id)
            let ended = watch.read(seconds: max(0, deadline - monotonicMs()) / 1000 + 10) {
                $0.contains { $0.began > deadline && !faulted($0) }
            }
            #expect(ended, "the fault never ended: \(watch.exchanges.suffix(5))", sourceLocation: sourceLocation)
            let last = watch.exchanges.last(where: faulted)?.began ?? 0
            #expect(
                last <= deadline + 1000,
                "an exchange begun \(Int(last - deadline)) ms after the kernel's deadline still met the fault",
                sourceLocation: sourceLocation)
            trace("\(fault.joined(separator: " ")): last faulted exchange began \(Int(last - deadline)) ms after the deadline")
            // Then the next command, more than 1s after the deadline, cleans up what is left
            // (it takes a stopped watchdog for dead).
            while monotonicMs() < deadline + 1500 { usleep(50_000) }
            #expect(try ns.netfault("status").status == 0)
            ns.forget(lease.id)
            try ns.expectBaseline()
            if tcAsBefore { #expect(try ns.tcState() == tcBefore, "traffic control differs", sourceLocation: sourceLocation) }
        }
    }

    static let delay = ["--delay", "500ms"]

    /// What happens to a lease's watchdog, each with a fault on leaving traffic (netem) and a
    /// connection fault: the kernel must end both within 1s of the deadline, no command run.
    enum WatchdogEvent: String, CaseIterable, CustomTestStringConvertible {
        case killed = "watchdog SIGKILLed", stopped = "watchdog SIGSTOPped", entryDeleted = "journal entry deleted"
        var testDescription: String { rawValue }
    }

    /// Netem steered by the lease's table is what only this VM has; --reject under the same three
    /// events is DeadlineTests' (this host's kernel, in netns-test) and the VM's crash trials'.
    @Test(
        "netem on leaving traffic: the fault ends within 1s of its deadline whatever befalls the watchdog",
        arguments: WatchdogEvent.allCases, [delay])
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
            // Without --iface a local server's netem lease goes on lo (docs/containers.md). One
            // probe process in the client host stamps every exchange, from before the lease on.
            let watch = try ExchangeStream(namespace: client, host: "10.77.0.1", port: 6379)
            defer { watch.stop() }
            // Long enough for the checks below to run while it holds when a process start takes
            // seconds (a busy host under the VM's emulation).
            let seconds = 20.0
            let lease = try server.apply("redis", "--delay", "500ms", "--iface", veth, "--for", "\(Int(seconds))s")
            let returned = monotonicMs()
            #expect(lease.output["server"] as? String == "local", "\(lease.output)")
            #expect(lease.output["deadline_enforced_by"] as? String == "watchdog", "\(lease.output)")
            let devices = (lease.output["installed"] as? [[String: Any]] ?? []).compactMap { $0["device"] as? String }
            #expect(devices.count == 1 && devices[0].hasPrefix("nfifb"), "an ifb band only: \(devices)")
            let status = try server.netfault("status").stdout
            #expect(status.contains("deadline enforced by: watchdog"), "\(status)")
            // The arriving SYN and PING each wait in the ifb's band.
            let met = watch.read(seconds: seconds) { $0.contains { $0.began >= returned && Self.delayed($0) } }
            #expect(met, "no exchange was delayed while the lease held: \(watch.exchanges.suffix(5))")
            // No command runs until the fault has gone: the watchdog ends it by itself, by the
            // deadline, which is at most `seconds` after apply returned.
            let deadline = returned + seconds * 1000
            let ended = watch.read(seconds: max(0, deadline - monotonicMs()) / 1000 + 10) {
                $0.contains { $0.began > deadline && !Self.delayed($0) }
            }
            #expect(ended, "the delay never ended: \(watch.exchanges.suffix(5))")
            let last = watch.exchanges.last(where: Self.delayed)?.began ?? 0
            #expect(
                last <= deadline + 1000,
                "an exchange begun \(Int(last - deadline)) ms after the lease's deadline was still delayed")
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
