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

    /// `tc qdisc show dev lo` and its filters inside: "as before" for traffic control.
    func tcState(_ ns: Namespace) throws -> String {
        try ns.exec("tc", "qdisc", "show", "dev", "lo").stdout + "--\n"
            + ns.exec("tc", "filter", "show", "dev", "lo").stdout
    }

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
            let tcBefore = try tcState(ns)
            let held = try ns.hold("redis", "127.0.0.1", 6379, timeout: 5)
            let lease = try ns.apply("redis", "--delay", "500ms", "--reject", "--for", "2m")
            #expect(try tcState(ns) != tcBefore, "no traffic-control objects were installed")
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
            let counted = back.rules.reduce(0) { $0 + ($1["packets"] as? Int ?? 0) }
            #expect(back.rules.count == 1 && counted >= 1, "the reject rule counted the refused SYN: \(back.rules)")

            let revert = try ns.revert(lease.id)
            #expect(revert.status == 0, "\(revert.stderr)")
            #expect(try tcState(ns) == tcBefore)
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
            let tcBefore = try tcState(ns)
            let held = try ns.hold("redis", "127.0.0.1", 6379, timeout: 5)
            let delay = try ns.apply("redis", "--delay", "500ms", "--for", "2m")
            let blackhole = try ns.apply("mysql", "--blackhole", "--for", "2m")
            #expect(
                delay.output["table"] == nil || delay.output["table"] is NSNull,
                "a netem-only lease has no table: \(delay.output)")
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
                    #expect(back.delay == "500ms" && back.rules.isEmpty, "\(entry)")
                } else {
                    #expect(back.delay == nil && back.rules.count == 1 && back.tablePresent == true, "\(entry)")
                }
            }

            // Reverting the blackhole leaves the delay, and the other way round.
            #expect(try ns.revert(blackhole.id).status == 0)
            try ns.expectBaseline()
            #expect(try ns.probe("mysql-ping", "127.0.0.1", 3306).outcome == "ok")
            let delayed = try ns.probe("redis-ping", "127.0.0.1", 6379, timeout: 5)
            #expect(delayed.outcome == "ok" && delayed.elapsedMs >= Self.delayMs * 0.9, "\(delayed)")
            #expect(try ns.revert(delay.id).status == 0)
            #expect(try tcState(ns) == tcBefore)
        }
    }

    @Test("the watchdog of a lease with both kinds killed: the table goes at once, the netem band at the next sweep")
    func watchdogKilled() throws {
        try withServers(mariadb: false) { ns in
            let tcBefore = try tcState(ns)
            let lease = try ns.apply("redis", "--delay", "500ms", "--reject", "--for", "2m")
            let pid = try #require(lease.output["watchdog_pid"] as? Int, "watchdog_pid in \(lease.output)")
            #expect(kill(pid_t(pid), SIGKILL) == 0)
            let gone = try ns.awaitTableGone("netfault-\(lease.id)", seconds: 2)
            #expect(gone, "the table outlived its watchdog by 2s: \((try? ns.tables()) ?? "")")
            // The kernel holds the netem band until a netfault command sweeps the dead lease.
            #expect(try tcState(ns) != tcBefore, "the band went without a sweep")
            let status = try ns.netfault("status", "--json")
            #expect(status.status == 0, "\(status.stderr)")
            #expect(try tcState(ns) == tcBefore, "the sweep left traffic-control objects")
            #expect(try ns.statusLeases().isEmpty)
            ns.forget(lease.id)
            try ns.expectBaseline()
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379).outcome == "ok")
        }
    }

    @Test("revert --all with the journal deleted removes both kinds by their marks, and nothing of the user's")
    func revertAllWithoutJournal() throws {
        try withServers(mariadb: false) { ns in
            let tcBefore = try tcState(ns)
            let empty = ns.baseline
            _ = try ns.exec("nft", "add", "table", "inet", "user_table")
            ns.baseline = try ns.ruleset()
            let lease = try ns.apply("redis", "--delay", "500ms", "--reject", "--for", "2m")
            let pid = try #require(lease.output["watchdog_pid"] as? Int)
            // Lost state: the journal entry deleted, then the watchdog killed (the table goes with it).
            try FileManager.default.removeItem(atPath: "\(stateDir)/leases/\(lease.id).json")
            kill(pid_t(pid), SIGKILL)
            #expect(try ns.awaitTableGone("netfault-\(lease.id)", seconds: 2))
            #expect(try tcState(ns) != tcBefore)
            let revert = try ns.netfault("revert", "--all", "--json")
            #expect(revert.status == 0, "\(revert.stderr)")
            #expect(try tcState(ns) == tcBefore)
            ns.forget(lease.id)
            try ns.expectBaseline()
            _ = try ns.exec("nft", "delete", "table", "inet", "user_table")
            ns.baseline = empty
        }
    }
}
