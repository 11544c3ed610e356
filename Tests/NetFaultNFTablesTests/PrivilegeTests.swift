import Foundation
import TestSupport
import Testing

/// What a CI container has: CAP_NET_ADMIN and no CAP_SYS_ADMIN, in a namespace of its own whose
/// loopback may be down. Capabilities are dropped with setpriv (root's capabilities after exec
/// are its bounding set); the Docker suite (scripts/container-test) checks the same in real
/// containers under Docker's seccomp profile.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct PrivilegeTests {
    /// `argv` without `caps`, after `enter` (which may need them: unshare, ip netns exec) put it in place.
    func withoutCaps(_ caps: String, _ argv: [String], enter: [String] = []) throws -> Run {
        let command = enter + ["setpriv", "--bounding-set", caps, "--"] + argv
        return try run(command[0], Array(command.dropFirst()))
    }

    @Test(
        """
        doctor without CAP_SYS_ADMIN in a fresh namespace with lo down: exit 0, nf_tables found, stderr empty, \
        nothing left
        """
    )
    func doctorInAFreshNamespace() throws {
        let script = """
            \(netfaultPath) doctor --json > /var/tmp/netfault-doctor-$$.json; echo "status=$?"
            cat /var/tmp/netfault-doctor-$$.json; rm -f /var/tmp/netfault-doctor-$$.json
            echo "--links"; ip -o link | cut -d: -f2; echo "--ruleset"; nft list ruleset
            """
        let r = try withoutCaps("-sys_admin", ["/bin/sh", "-c", script], enter: ["unshare", "-n"])
        #expect(r.stdout.contains("status=0"), "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.isEmpty, "stderr must carry only netfault's own words, and here none: \(r.stderr)")
        #expect(r.stdout.contains("\"feature\" : \"nf_tables rules\""), "\(r.stdout)")
        let after = r.stdout.components(separatedBy: "--links").last ?? ""
        #expect(
            after.trimmingCharacters(in: .whitespacesAndNewlines) == "lo\n--ruleset",
            "the probe left something: \(after)")
    }

    @Test("a blackhole works with CAP_NET_ADMIN alone, and status and revert print nothing on stderr")
    func blackholeWithoutSysAdmin() throws {
        try withServers(mariadb: false) { ns in
            // A journal of its own, as a container has: the suite's journal holds other tests'
            // --netns leases, which a process without CAP_SYS_ADMIN cannot revert.
            let script = """
                export NETFAULT_STATE_DIR=\(ns.dir)/state
                \(netfaultPath) apply redis --blackhole --for 1m >/dev/null || exit 1
                \(python) \(probePath) connect 127.0.0.1 6379 --timeout 1
                nft list ruleset; cat $NETFAULT_STATE_DIR/watchdog.log
                \(netfaultPath) status >/dev/null && \(netfaultPath) revert --all >/dev/null || exit 2
                \(python) \(probePath) connect 127.0.0.1 6379 --timeout 1
                """
            let r = try withoutCaps("-sys_admin", ["/bin/sh", "-c", script], enter: ["ip", "netns", "exec", ns.name])
            #expect(r.status == 0 && r.stderr.isEmpty, "exit \(r.status): \(r.stderr)")
            // The probes' lines; the rest (the ruleset and the watchdog's log while faulted) is
            // there to explain a failure.
            let outcomes = r.stdout.split(separator: "\n").filter { $0.hasPrefix("{\"scenario\"") }
            #expect(
                outcomes.count == 2 && outcomes[0].contains("\"outcome\": \"timeout\"")
                    && outcomes[1].contains("\"outcome\": \"ok\""), "\(r.stdout)")
            try ns.expectBaseline()
        }
    }

    @Test("status --all-namespaces without CAP_SYS_ADMIN lists a --netns lease it cannot enter, saying so, and exits 0")
    func statusOfAnotherNamespace() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--reject", "--for", "1m")
            let r = try withoutCaps("-sys_admin", [netfaultPath, "status", "--all-namespaces"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(
                r.stdout.contains(lease.id) && r.stdout.contains("not read back") && r.stdout.contains("CAP_SYS_ADMIN"),
                "\(r.stdout)")
            #expect(try ns.revert(lease.id).status == 0)
        }
    }

    @Test("--netns without CAP_SYS_ADMIN exits 77 pointing to --network container:")
    func netnsNeedsSysAdmin() throws {
        try withServers(mariadb: false) { ns in
            let r = try withoutCaps("-sys_admin", [netfaultPath, "apply", "redis", "--blackhole", "--netns", ns.name])
            #expect(r.status == 77, "\(r.stderr)")
            #expect(r.stderr.contains("CAP_SYS_ADMIN") && r.stderr.contains("--network container:"), "\(r.stderr)")
            try ns.expectBaseline()
        }
    }

    @Test("without CAP_NET_ADMIN every command that changes or reads faults exits 77 naming CAP_NET_ADMIN")
    func netAdminMissing() throws {
        for args in [
            ["apply", "redis", "--blackhole"], ["status"], ["revert", "--all"],
            ["run", "redis", "--reject", "--", "true"]
        ] {
            let r = try withoutCaps("-net_admin", [netfaultPath] + args)
            #expect(r.status == 77 && r.stderr.contains("CAP_NET_ADMIN"), "\(args): \(r.status) \(r.stderr)")
        }
    }
}

/// --dry-run of connection faults: nothing changes, and the printed table is one nft accepts.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct DryRunTests {
    @Test("apply --dry-run changes nothing, journals nothing, and prints an nft script that nft -c accepts")
    func nftScript() throws {
        try withServers(mariadb: false) { ns in
            let r = try ns.netfault(
                "apply", "redis", "--reject", "--loss-nft", "5%", "--direction", "both", "--dry-run")
            #expect(r.status == 0, "\(r.stderr)")
            try ns.expectBaseline()
            #expect(try ns.statusLeases().allSatisfy { $0["netns"] as? String != ns.name }, "--dry-run journalled a lease")
            let script = try #require(
                r.stdout.components(separatedBy: "<<'EOF'\n").last?.components(separatedBy: "\nEOF").first)
            let check = try run("/bin/sh", ["-c", "ip netns exec \(ns.name) nft -c -f - <<'EOF'\n\(script)\nEOF"])
            #expect(check.status == 0, "nft -c refused the script: \(check.stderr)\n\(script)")
            let dry = try ns.netfault("run", "redis", "--blackhole", "--dry-run", "--", "/bin/false")
            #expect(
                dry.status == 0 && dry.stdout.contains("table inet netfault-"),
                "run --dry-run ran the command or failed: \(dry.stderr)")
        }
    }
}

/// revert --all and status stay in their namespace; every command sweeps dead watchdogs first.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ScopeAndSweepTests {
    @Test("revert --all --netns A and status --netns A leave B's lease alone; --all-namespaces reaches it")
    func scoped() throws {
        try withServers(mariadb: false) { a in
            try withServers(mariadb: false) { b in
                let la = try a.apply("redis", "--reject", "--for", "1m")
                let lb = try b.apply("redis", "--reject", "--for", "1m")
                let listed = try a.statusLeases().compactMap { $0["lease"] as? String }
                #expect(listed.contains(la.id) && !listed.contains(lb.id), "\(listed)")
                #expect(try a.netfault("revert", "--all").status == 0)
                #expect(try b.tables().contains("netfault-\(lb.id)"), "revert --all --netns A removed B's table")
                a.forget(la.id)
                let all = try run(netfaultPath, ["status", "--json", "--all-namespaces"])
                #expect(all.stdout.contains(lb.id), "\(all.stdout)")
                #expect(try b.revert(lb.id).status == 0)
            }
        }
    }

    @Test("revert of one lease and doctor both sweep a lease whose watchdog was killed, and say so")
    func sweeps() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let dead = try ns.apply("redis", "--reject", "--for", "1m")
            let live = try ns.apply("6380", "--blackhole", "--for", "1m")
            let deadPID = pid_t(try #require(dead.output["watchdog_pid"] as? Int))
            kill(deadPID, SIGKILL)
            #expect(awaitExit(deadPID), "the killed watchdog \(deadPID) is still running")
            let r = try ns.revert(live.id)
            #expect(r.status == 0 && r.stdout.contains("swept \(dead.id)"), "\(r.stdout) \(r.stderr)")
            ns.forget(dead.id)
            let again = try ns.apply("redis", "--reject", "--for", "1m")
            let againPID = pid_t(try #require(again.output["watchdog_pid"] as? Int))
            kill(againPID, SIGKILL)
            #expect(awaitExit(againPID), "the killed watchdog \(againPID) is still running")
            #expect(try ns.invoke(["doctor"]).status == 0)
            #expect(try ns.statusLeases().allSatisfy { $0["lease"] as? String != again.id }, "doctor did not sweep")
            ns.forget(again.id)
        }
    }
}
