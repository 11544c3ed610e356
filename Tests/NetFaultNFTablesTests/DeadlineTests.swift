import Foundation
import TestSupport
import Testing

/// Deadlines the kernel keeps: the lease's set elements expire on the kernel's monotonic clock,
/// so a connection fault ends on time with no netfault command run, whatever becomes of the
/// watchdog. On this host's kernel, each test in a fresh namespace against a real redis-server.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct DeadlineTests {
    /// The watchdog's pid from apply --json.
    func watchdog(_ lease: (id: String, output: [String: Any])) throws -> pid_t {
        pid_t(try #require(lease.output["watchdog_pid"] as? Int, "watchdog_pid in \(lease.output)"))
    }

    @Test("the lease says who keeps its deadline: the kernel, for connection faults")
    func enforcedByKernel() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--reject", "--for", "1m")
            #expect(lease.output["deadline_enforced_by"] as? String == "kernel", "\(lease.output)")
            let set = try ns.exec("nft", "list", "set", "inet", "netfault-\(lease.id)", "lease")
            #expect(set.stdout.contains("6379 timeout 1m") || set.stdout.contains("6379 timeout 59s"), "\(set.stdout)")
            let text = try ns.netfault("status")
            #expect(text.stdout.contains("deadline enforced by: kernel"), "\(text.stdout)")
            #expect(try ns.revert(lease.id).status == 0)
        }
    }

    @Test("a stopped watchdog: the kernel ends --reject at its deadline with no command run; the next one kills it")
    func stoppedWatchdog() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            // One probe process stamps every exchange, and the deadline is the one the kernel
            // holds (its set element's expiry): a probe started per sample took half a second
            // more on a busy host, and failed a bound the kernel had kept.
            let watch = try ExchangeStream(namespace: ns.name, host: "127.0.0.1", port: 6379)
            defer { watch.stop() }
            // Long enough to see the fault hold even when apply and nft start slowly.
            let applied = try ns.apply("redis", "--reject", "--for", "6s")
            let inForce = monotonicMs()
            let deadline = try kernelDeadline(ns, lease: applied.id)
            let pid = try watchdog(applied)
            #expect(kill(pid, SIGSTOP) == 0)
            defer { kill(pid, SIGCONT) }
            let refused = { (e: Exchange) in e.outcome == "refused" }
            let met = watch.read(seconds: max(0, deadline - inForce) / 1000) {
                $0.contains { $0.began >= inForce && refused($0) }
            }
            #expect(met, "no exchange was refused while the lease held: \(watch.exchanges.suffix(5))")
            // No netfault command from here on: the fault must end by itself, within 1s of the deadline.
            let ended = watch.read(seconds: max(0, deadline - monotonicMs()) / 1000 + 10) {
                $0.contains { $0.began > deadline && $0.outcome == "ok" }
            }
            #expect(ended, "the fault never ended: \(watch.exchanges.suffix(5))")
            let last = watch.exchanges.last(where: refused)?.began ?? 0
            #expect(
                last <= deadline + 1000, "an exchange begun \(Int(last - deadline)) ms after the deadline was refused")
            trace("last refused exchange began \(Int(last - deadline)) ms after the kernel deadline")
            #expect(isRunning(pid), "the watchdog is still there, stopped")
            // More than 1s past the deadline: the next command takes the watchdog for dead.
            while monotonicMs() < deadline + 1300 { usleep(50_000) }
            let status = try ns.netfault("status", "--json")
            #expect((jsonObject(status)["swept"] as? [String]) == [applied.id], "\(status.stdout) \(status.stderr)")
            ns.forget(applied.id)
            let text = try ns.netfault("status")
            #expect(!text.stdout.contains(applied.id), "\(text.stdout)")
            #expect(awaitExit(pid), "the late watchdog was killed")
            #expect(try ns.awaitTableGone("netfault-\(applied.id)", seconds: 1))
            try ns.expectBaseline()
        }
    }

    @Test("a stopped watchdog's lease is swept with its reason in the text output")
    func lateWatchdogSaysSo() throws {
        try withServers(mariadb: false) { ns in
            // Long enough that the watchdog is stopped well before its deadline, even when apply
            // itself is slow (a cold start under load).
            ns.ownJournal()
            let applied = try ns.apply("redis", "--blackhole", "--for", "3s")
            let lease = (id: applied.id, pid: try watchdog(applied))
            let pid = lease.pid
            #expect(kill(pid, SIGSTOP) == 0)
            defer { kill(pid, SIGCONT) }
            usleep(4_300_000)
            let status = try ns.netfault("status")
            #expect(
                status.stdout.contains("swept \(lease.id): its watchdog (pid \(pid)) missed the deadline by"),
                "\(status.stdout)")
            ns.forget(lease.id)
        }
    }

    @Test("the journal entry deleted: the watchdog reverts from its own copy at once")
    func journalEntryDeleted() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--reject", "--for", "1m")
            let pid = try watchdog(lease)
            try FileManager.default.removeItem(atPath: "\(stateDir)/leases/\(lease.id).json")
            #expect(try ns.awaitTableGone("netfault-\(lease.id)", seconds: 2))
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379).outcome == "ok")
            #expect(awaitExit(pid), "the watchdog exits")
            ns.forget(lease.id)
            try ns.expectBaseline()
        }
    }

    @Test("10,000 ports go into the lease's set in one batch: one rule, and every port blackholed")
    func tenThousandPorts() throws {
        try withNamespace { ns in
            let ports = (10_001...20_000).map(String.init).joined(separator: ",")
            let lease = try ns.apply(ports, "--blackhole", "--for", "1m")
            let rules = lease.output["rules"] as? [[String: Any]] ?? []
            #expect(rules.count == 1, "\(rules)")
            let set = try ns.exec("nft", "list", "set", "inet", "netfault-\(lease.id)", "lease")
            #expect(set.stdout.components(separatedBy: " expires ").count - 1 == 10_000)
            // Nothing listens: an unfaulted port is refused by the kernel, a blackholed one times out.
            #expect(try ns.probe("connect", "127.0.0.1", 20_000, timeout: 0.5).outcome == "timeout")
            #expect(try ns.probe("connect", "127.0.0.1", 10_001, timeout: 0.5).outcome == "timeout")
            #expect(try ns.probe("connect", "127.0.0.1", 20_001, timeout: 0.5).outcome == "refused")
            #expect(try ns.revert(lease.id).status == 0)
            try ns.expectBaseline()
        }
    }
}
