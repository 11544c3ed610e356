import Foundation
import TestSupport
import Testing

/// netem faults on a real kernel (user-mode Linux) against real redis-servers on loopback.
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct NetemKernelTests {
    init() throws { try cleanUp() }

    @Test("delay 100ms on redis grows its PING round trip by 100ms and leaves another port alone")
    func delayOnlyOnTarget() throws {
        let redis = try RedisServer(port: 6379)
        let other = try RedisServer(port: 6380)
        let before = (try medianPing(port: redis.port), try medianPing(port: other.port))
        let r = try netfault("apply", "redis", "--delay", "100ms", "--for", "60s", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let during = (try medianPing(port: redis.port), try medianPing(port: other.port))
        #expect(try netfault("revert", try leaseID(r)).status == 0)
        let after = try medianPing(port: redis.port)
        expectDelayed(by: 100, grown: during.0 - before.0, "redis")
        expectUntouched(by: 100, grown: during.1 - before.1, "port 6380")
        expectUntouched(by: 100, grown: after - before.0, "redis after revert")
    }

    @Test("loss 30% drops a share of requests within statistical bounds (1000 probes)")
    func lossWithinBounds() throws {
        let redis = try RedisServer(port: 6379)
        // Connect first: a lost SYN costs a 1s retransmit and says nothing about the loss rate.
        let clients = try (0..<100).map { _ in try RedisClient(port: redis.port) }
        for c in clients { _ = try c.ping() }
        let r = try netfault("apply", "redis", "--loss", "30%", "--for", "120s", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        // Each probe is one request segment; a dropped one is recovered by TCP only after a
        // probe timeout (>=200ms on loopback), so a slow PING is a lost request. The filter
        // also drops the client's ACKs (they go to port 6379 too); the server then resends its
        // reply from a collapsed window, which slows some probes whose request got through.
        let results = Locked((latencies: [Double](), failures: 0))
        let threads = clients.map { c in
            Thread {
                // Several losses in a row back TCP off past the client's 10s timeout (0.3^6
                // per probe): that probe is lost too, and its connection is done.
                var mine: [Double] = []
                var timedOut = 0
                for _ in 0..<10 where timedOut == 0 {
                    if let ms = try? c.ping() { mine.append(ms) } else { timedOut = 1 }
                }
                results.update {
                    $0.latencies += mine; $0.failures += timedOut
                }
            }
        }
        threads.forEach { $0.start() }
        while threads.contains(where: { !$0.isFinished }) { usleep(10_000) }
        let (latencies, failures) = results.value
        let counters = try netemCounters()
        #expect(try netfault("revert", try leaseID(r)).status == 0)
        let probes = latencies.count + failures
        #expect(probes >= 900)
        // netem's own count: each packet is dropped independently with p = 0.3, so the share
        // must lie within 5 sigma of 0.3 for the number of packets it saw (at least 1000).
        let (dropped, stats) = (Double(counters.dropped), counters.stats)
        let packets = Double(counters.sent) + dropped
        let kernelLoss = dropped / max(1, packets)
        let fiveSigma = 5 * (0.3 * 0.7 / max(1, packets)).squareRoot()
        #expect(packets >= 1000, "netem saw \(packets) packets")
        #expect(abs(kernelLoss - 0.3) <= fiveSigma, "netem dropped \(dropped) of \(packets) (\(kernelLoss)): \(stats)")
        // The client's view: at least the lost requests are slow (5 sigma below 0.3 over 1000
        // probes), and ACK losses add some more, but far from all probes are slow.
        let slow = Double(latencies.filter { $0 > 100 }.count + failures) / Double(probes)
        trace("loss: netem dropped \(kernelLoss) of \(packets) packets; \(slow) of \(probes) probes slow")
        #expect(
            slow >= 0.22 && slow <= 0.6, "share of slow probes \(slow) over \(probes) probes (\(failures) timed out)")
    }

    @Test("two leases on two ports hold their own parameters at once")
    func twoLeases() throws {
        let a = try RedisServer(port: 6379), b = try RedisServer(port: 6380), c = try RedisServer(port: 6381)
        let base = try [a, b, c].map { try medianPing(port: $0.port) }
        let la = try netfault("apply", "redis", "--delay", "40ms", "--json")
        let lb = try netfault("apply", "6380", "--delay", "120ms", "--json")
        #expect(la.status == 0 && lb.status == 0, "\(la.stderr) \(lb.stderr)")
        let during = try [a, b, c].map { try medianPing(port: $0.port) }
        let (leases, bandList) = try statusLeases()
        try cleanUp()
        expectDelayed(by: 40, grown: during[0] - base[0], "6379")
        expectDelayed(by: 120, grown: during[1] - base[1], "6380")
        expectUntouched(by: 40, grown: during[2] - base[2], "6381")
        #expect(leases.count == 2)
        #expect(Set(bandList).count == 2, "each lease has its own band: \(leases)")
    }

    @Test("revert leaves tc qdisc and filter state as it was, and is idempotent")
    func revertRestores() throws {
        let before = try tcSnapshot()
        let r = try netfault("apply", "mysql,redis", "--delay", "10ms", "--loss", "1%", "--direction", "both", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try tcSnapshot() != before)
        let id = try leaseID(r)
        #expect(try netfault("revert", id).status == 0)
        #expect(try tcSnapshot() == before)
        let again = try netfault("revert", id)
        #expect(again.status == 0)
        #expect(again.stdout.contains("no such lease"))
        #expect(try netfault("revert", "--all").status == 0)
    }

    @Test("the watchdog reverts at the deadline (--for 2s)")
    func deadlineReverts() throws {
        let before = try tcSnapshot()
        let r = try netfault("apply", "redis", "--delay", "50ms", "--for", "2s")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try tcSnapshot() != before)
        let after = try tcSnapshot(awaiting: before, seconds: 5)
        #expect(after == before, "tc state after the deadline: \(after)")
        #expect(try netfault("status").stdout.contains("no active leases"))
    }

    @Test("a stopped watchdog of a u32 lease: the first command after the deadline kills it and reverts, saying so")
    func stoppedWatchdogSwept() throws {
        let before = try tcSnapshot()
        let r = try netfault("apply", "redis", "--delay", "50ms", "--for", "2s", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let pid = pid_t(try #require(try jsonObject(r)["watchdog_pid"] as? Int))
        #expect(kill(pid, SIGSTOP) == 0)
        defer { kill(pid, SIGCONT) }
        usleep(3_500_000)
        #expect(try tcSnapshot() != before, "no command ran: the stopped watchdog's band is still there")
        let status = try netfault("status")
        #expect(status.stdout.contains("missed the deadline by"), "\(status.stdout)")
        #expect(try tcSnapshot() == before)
    }

    @Test("the watchdog reverts when it gets SIGTERM, SIGINT or SIGHUP", arguments: [SIGTERM, SIGINT, SIGHUP])
    func signalReverts(signal: Int32) throws {
        let before = try tcSnapshot()
        let r = try netfault("apply", "redis", "--delay", "50ms", "--for", "10m", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let obj: [String: Any]? = try jsonObject(r)
        let pid = try #require(obj?["watchdog_pid"] as? Int)
        #expect(try tcSnapshot() != before)
        #expect(kill(pid_t(pid), signal) == 0)
        let after = try tcSnapshot(awaiting: before, seconds: 5)
        #expect(after == before, "tc state after signal \(signal): \(after)")
        #expect(try netfault("status").stdout.contains("no active leases"))
    }

    @Test("a user's own root qdisc makes apply refuse and stays untouched")
    func foreignRootRefused() throws {
        try run("tc", ["qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "1"])
        defer { _ = try? run("tc", ["qdisc", "del", "dev", "lo", "root"]) }
        let before = try tcSnapshot()
        #expect(before.contains("htb 1:"))
        let r = try netfault("apply", "redis", "--delay", "10ms")
        #expect(r.status == 73)
        #expect(r.stderr.contains("'htb'") && r.stderr.contains("did not create"), "\(r.stderr)")
        #expect(try tcSnapshot() == before)
        #expect(try netfault("status").stdout.contains("no active leases"))
    }

    @Test("a user's root prio with netfault's handle 6e66: is the user's: apply refuses (73), revert --all leaves it")
    func userPrioWithOurHandle() throws {
        try run("tc", ["qdisc", "add", "dev", "lo", "root", "handle", "6e66:", "prio"])
        defer { _ = try? run("tc", ["qdisc", "del", "dev", "lo", "root"]) }
        let before = try tcSnapshot()
        let r = try netfault("apply", "redis", "--delay", "10ms")
        #expect(r.status == 73, "\(r.stderr)")
        #expect(r.stderr.contains("'prio'") && r.stderr.contains("did not create"), "\(r.stderr)")
        #expect(try netfault("status").status == 0)
        #expect(try netfault("revert", "--all").status == 0)
        #expect(try tcSnapshot() == before, "the user's prio 6e66: is untouched")
    }

    @Test("a user's ingress filter at netfault's priority 0x6e04 is the user's: revert --all leaves it and its qdisc")
    func userIngressFilterAtOurPriority() throws {
        try run("tc", ["qdisc", "add", "dev", "lo", "ingress"])
        defer { _ = try? run("tc", ["qdisc", "del", "dev", "lo", "ingress"]) }
        let add = try run(
            "tc",
            [
                "filter", "add", "dev", "lo", "parent", "ffff:", "protocol", "ip", "prio", "28164", "u32", "match",
                "ip", "dport", "9", "0xffff", "flowid", "1:1"
            ])
        try #require(add.status == 0, "\(add.stderr)")
        let before = try tcSnapshot() + (try run("tc", ["filter", "show", "dev", "lo", "ingress"])).stdout
        #expect(try netfault("status").status == 0)
        #expect(try netfault("revert", "--all").status == 0)
        let after = try tcSnapshot() + (try run("tc", ["filter", "show", "dev", "lo", "ingress"])).stdout
        #expect(after == before, "the user's ingress and its filter are untouched")
        #expect(after.contains("28164") || after.contains("pref 28164"), "\(after)")
    }

    @Test(
        "bad input is refused with exit 64 and a message, before the kernel changes",
        arguments: [
            (["redis", "--loss", "120%"], "out of range"),
            (["redis", "--delay=-5ms"], "negative"),
            (["redis", "--reorder", "25%"], "--reorder needs --delay"),
            (["redis", "--delay", "10ms", "--gap", "5"], "--gap needs --reorder"),
            (["redis", "--delay", "10ms", "--iface", "nope0"], "unknown interface 'nope0'"),
            (["redis", "--delay", "10ms", "--iface", "lo", "--host", "10.50.0.2"], "no route to --host 10.50.0.2"),
            (["0", "--delay", "10ms"], "out of range"),
            (["70000", "--delay", "10ms"], "out of range"),
            (["redis"], "no fault given"),
            (["redis", "--delay", "10ms", "--for", "25h"], "at most 24h"),
            (["redis", "--delay", "10ms", "--direction", "sideways"], "to-server, from-server, both")
        ])
    func badInput(args: [String], message: String) throws {
        let before = try tcSnapshot()
        let r = try run(netfaultPath, ["apply"] + args)
        #expect(r.status == 64, "\(args): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
        #expect(try tcSnapshot() == before)
    }

    @Test("without CAP_NET_ADMIN apply exits 77 and changes nothing")
    func notRoot() throws {
        let before = try tcSnapshot()
        let r = try run(
            netfaultPath, ["apply", "redis", "--delay", "10ms"],
            prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        #expect(r.status == 77, "\(r.stderr)")
        #expect(r.stderr.contains("CAP_NET_ADMIN"))
        #expect(try tcSnapshot() == before)
    }

    @Test("a kernel without netem gives exit 69 naming CONFIG_NET_SCH_NETEM")
    func noNetem() throws {
        let moduleDir = try #require(Kernel.moduleDir, "the UML module directory is needed to reload sch_netem")
        #expect(try run("rmmod", ["sch_netem"]).status == 0)
        defer { _ = try? run("modprobe", ["-d", moduleDir, "sch_netem"]) }
        let r = try netfault("apply", "redis", "--delay", "10ms")
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.contains("CONFIG_NET_SCH_NETEM") && r.stderr.contains("modprobe sch_netem"))
    }

    // user-mode Linux has no nf_tables: the connection faults must be refused before any change.
    @Test(
        "a kernel without nf_tables gives exit 69 naming CONFIG_NF_TABLES for a connection fault, and changes nothing")
    func noNFTables() throws {
        let before = try tcSnapshot()
        for faults in [
            ["--reject"], ["--loss-nft", "5%"], ["--delay", "10ms", "--hang"], ["--delay", "10ms", "--connections", "50%"],
            ["--connect-delay", "300ms"], ["--slow-close", "1s", "--direction", "from-server"]
        ] {
            let r = try run(netfaultPath, ["apply", "redis"] + faults)
            #expect(r.status == 69, "\(faults): \(r.stderr)")
            #expect(r.stderr.contains("CONFIG_NF_TABLES"), "\(faults): \(r.stderr)")
        }
        #expect(try tcSnapshot() == before)
        #expect(try statusLeases().leases.isEmpty)
    }
}

/// Scoping by address and the incoming direction, with a second host in its own network
/// namespace behind a veth pair (inside user-mode Linux).
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct RemoteServerKernelTests {
    init() throws { try cleanUp() }

    // user-mode Linux has no IPv6, and this machine's kernel has no netem: IPv6 filters are
    // checked byte for byte against tc in the unit tests, and here through IPv4 addresses.
    // --peer 127.0.0.0/31 holds .0 and .1, not .2. Its network address is not the one pinged,
    // so only a real prefix mask (0xfffffffe) makes .1 match.
    @Test(
        "--host narrows a fault to one server address, --peer to an address block (u32 with a prefix mask)",
        arguments: [
            ("--host", "127.0.0.2", "127.0.0.2", "127.0.0.1"), ("--peer", "127.0.0.0/31", "127.0.0.1", "127.0.0.2")
        ])
    func addressScoping(option: String, value: String, delayed: String, untouched: String) throws {
        let redis = try RedisServer(port: 6379)
        func medianPing(_ host: String) throws -> Double {
            try NetFaultIntegrationTests.medianPing(port: redis.port, host: host)
        }
        let base = (delayed: try medianPing(delayed), untouched: try medianPing(untouched))
        let r = try netfault("apply", "redis", option, value, "--delay", "60ms", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let lease = try jsonObject(r)
        if option == "--peer" {
            #expect((lease["peers"] as? [String]) == [value])
        } else {
            #expect(lease["host"] as? String == value)
        }
        let during = (delayed: try medianPing(delayed), untouched: try medianPing(untouched))
        try cleanUp()
        expectDelayed(by: 60, grown: during.delayed - base.delayed, delayed)
        expectUntouched(by: 60, grown: during.untouched - base.untouched, untouched)
    }

    @Test("from-server on a remote server shapes incoming replies through an ifb device, and revert removes it")
    func incomingThroughIfb() throws {
        let setup = [
            "ip netns add nfsrv", "ip link add nfv0 type veth peer name nfv1", "ip link set nfv1 netns nfsrv",
            "ip addr add 10.99.0.1/24 dev nfv0", "ip link set nfv0 up",
            "ip -n nfsrv addr add 10.99.0.2/24 dev nfv1", "ip -n nfsrv link set nfv1 up", "ip -n nfsrv link set lo up"
        ]
        for cmd in setup {
            let r = try run("/bin/sh", ["-c", cmd])
            try #require(r.status == 0, "\(cmd): \(r.stderr)")
        }
        defer {
            _ = try? run(
                "/bin/sh",
                ["-c", "ip netns pids nfsrv | xargs -r kill; sleep 0.2; ip link del nfv0; ip netns del nfsrv"])
        }
        let server = try spawn(
            [
                "ip", "netns", "exec", "nfsrv", "redis-server", "--bind", "10.99.0.2", "--port", "6379",
                "--protected-mode", "no",
                "--save", "", "--appendonly", "no", "--dir", "/var/tmp"
            ], captureOutput: false
        ).pid
        defer { kill(server, SIGTERM); _ = waitStatus(server) }
        func medianPing() throws -> Double {
            var c: RedisClient?
            for _ in 0..<100 where c == nil {
                c = try? RedisClient(port: 6379, host: "10.99.0.2"); if c == nil { usleep(50_000) }
            }
            _ = try #require(c, "redis in the nfsrv namespace does not answer")
            return try NetFaultIntegrationTests.medianPing(port: 6379, host: "10.99.0.2")
        }
        let before = try tcSnapshot("nfv0")
        let base = try medianPing()
        let r = try netfault(
            "apply", "redis", "--host", "10.99.0.2", "--delay", "50ms", "--direction", "from-server", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let obj: [String: Any]? = try jsonObject(r)
        #expect(obj?["device"] as? String == "nfv0", "the route to 10.99.0.2 goes through nfv0")
        let devices = (obj?["installed"] as? [[String: Any]] ?? []).compactMap { $0["device"] as? String }
        #expect(devices.count == 1 && devices[0].hasPrefix("nfifb"), "\(devices)")
        #expect(
            obj?["deadline_enforced_by"] as? String == "watchdog", "arriving traffic, and no nf_tables: \(obj ?? [:])")
        let during = try medianPing()
        #expect(try run("tc", ["qdisc", "show", "dev", "nfv0"]).stdout.contains("ingress"))
        let both = try netfault("apply", "mysql", "--host", "10.99.0.2", "--delay", "5ms", "--direction", "both")
        #expect(both.status == 0, "a second lease shares the ifb device: \(both.stderr)")
        try cleanUp()
        let after = try medianPing()
        expectDelayed(by: 50, grown: during - base, "replies from 10.99.0.2")
        expectUntouched(by: 50, grown: after - base, "replies from 10.99.0.2 after revert")
        #expect(try tcSnapshot("nfv0") == before)
        let links = try run("ip", ["-o", "link", "show"]).stdout
        #expect(!links.contains("nfifb"), "the ifb device is removed: \(links)")
    }
}

/// Crash safety without the journal: netfault's objects are found by their marks, and an object
/// is removed once no live netfault claims it (a killed container's journal dies with it).
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct JournalLossKernelTests {
    init() throws { try cleanUp() }

    @Test(
        """
        the next command removes the objects of killed watchdogs whose journal is deleted or corrupted, and nothing \
        else
        """,
        arguments: ["deleted", "corrupted"])
    func journalLost(how: String) throws {
        // A device with a user's own root qdisc, where netfault adds only an ingress redirect.
        for cmd in [
            "ip link add nfu0 type veth peer name nfu1", "ip link set nfu0 up", "ip link set nfu1 up",
            "tc qdisc add dev nfu0 root handle 1: htb default 1"
        ] {
            let r = try run("/bin/sh", ["-c", cmd])
            try #require(r.status == 0, "\(cmd): \(r.stderr)")
        }
        defer { _ = try? run("ip", ["link", "del", "nfu0"]) }
        let before = (try tcSnapshot("lo"), try tcSnapshot("nfu0"))
        let a = try netfault("apply", "redis", "--delay", "10ms", "--json")
        let b = try netfault(
            "apply", "mysql", "--iface", "nfu0", "--host", "10.98.0.2", "--direction", "from-server", "--delay", "10ms",
            "--json")
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        #expect(try run("ip", ["-o", "link"]).stdout.contains("nfifb"))
        // Watchdogs gone (SIGKILL: no revert) and the journal lost.
        for r in [a, b] {
            let obj: [String: Any]? = try jsonObject(r)
            kill(pid_t(try #require(obj?["watchdog_pid"] as? Int)), SIGKILL)
        }
        let leases = "/run/netfault/leases"
        for f in try FileManager.default.contentsOfDirectory(atPath: leases) {
            if how == "deleted" {
                try FileManager.default.removeItem(atPath: "\(leases)/\(f)")
            } else {
                try Data("{\"id\": \"nf-".utf8).write(to: URL(fileURLWithPath: "\(leases)/\(f)"))
            }
        }
        usleep(200_000)
        #expect(try tcSnapshot("lo") != before.0, "the faults outlive their journal until the next command")
        let status = try netfault("status")
        #expect(
            status.stdout.contains("removed without a lease") && status.stdout.contains("no active lease"),
            "\(status.stdout)")
        #expect(try tcSnapshot("lo") == before.0)
        #expect(try tcSnapshot("nfu0") == before.1, "the user's htb on nfu0 is untouched")
        #expect(!(try run("ip", ["-o", "link"]).stdout.contains("nfifb")))
        let r = try netfault("revert", "--all")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("unreadable journal entry") == (how == "corrupted"), "\(r.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: leases).isEmpty)
        #expect(try netfault("status").stdout.contains("no active leases"))
    }

    @Test("a live watchdog whose journal entry is deleted removes its own faults and exits")
    func entryDeletedUnderLiveWatchdog() throws {
        let before = try tcSnapshot("lo")
        let a = try netfault("apply", "redis", "--delay", "10ms", "--for", "2m", "--json")
        #expect(a.status == 0, "\(a.stderr)")
        let id = try leaseID(a)
        try FileManager.default.removeItem(atPath: "/run/netfault/leases/\(id).json")
        #expect(try tcSnapshot(awaiting: before, seconds: 5) == before)
    }
}

/// Two netfaults with journals of their own in one network namespace (two containers sharing a
/// service's namespace): neither removes what the other holds while it lives.
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct SharedNamespaceKernelTests {
    init() throws { try cleanUp() }

    func other(_ args: String...) throws -> Run {
        try run("/usr/bin/env", ["NETFAULT_STATE_DIR=/run/netfault-other", netfaultPath] + args)
    }

    @Test("another journal's revert --all and status leave a live lease alone; its faults go once its watchdog dies")
    func twoJournals() throws {
        let before = try tcSnapshot("lo")
        let mine = try netfault("apply", "redis", "--delay", "10ms", "--for", "2m", "--json")
        #expect(mine.status == 0, "\(mine.stderr)")
        let held = try tcSnapshot("lo")
        // The other netfault plans around the band this one holds.
        let theirs = try other("apply", "mysql", "--delay", "20ms", "--for", "2m", "--json")
        #expect(theirs.status == 0, "\(theirs.stderr)")
        let theirBand = try #require(
            ((try jsonObject(theirs))["installed"] as? [[String: Any]])?.first?["band"] as? Int)
        #expect(theirBand == 3, "band 2 is claimed by the first lease")
        let revert = try other("revert", "--all")
        #expect(revert.status == 0, "\(revert.stderr)")
        #expect(try tcSnapshot("lo") == held, "the other journal's revert --all removed a live lease's band")
        let status = try other("status")
        #expect(status.stdout.contains("held by netfault process"), "\(status.stdout)")
        #expect(try tcSnapshot("lo") == held)
        // Its watchdog killed: the band has no owner now, and the other netfault's next command removes it.
        let pid = try #require(try jsonObject(mine)["watchdog_pid"] as? Int)
        kill(pid_t(pid), SIGKILL)
        usleep(100_000)
        let sweep = try other("status")
        #expect(sweep.stdout.contains("removed without a lease"), "\(sweep.stdout)")
        #expect(try tcSnapshot("lo") == before)
        #expect(try netfault("status").stdout.contains("swept"), "this journal's own sweep reverts the dead lease too")
        #expect(try tcSnapshot("lo") == before)
    }
}

/// netem's queue limit under a burst: the default, sized from the delay, holds what is in flight;
/// a small --limit drops the rest (tc's flat 1000 dropped packets under a PING flood).
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct NetemLimitKernelTests {
    init() throws { try cleanUp() }

    /// Starts `count` connections to 127.0.0.1:`port` without waiting (one SYN each, as fast as
    /// the kernel takes them); returns their sockets.
    func synBurst(_ count: Int, port: UInt16) -> [Int32] {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr)
        return (0..<count).compactMap { _ in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { return nil }
            _ = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            return fd
        }
    }

    @Test(
        "2000 SYNs at once under --delay 100ms: none dropped with the default limit (10000), some with --limit 100",
        arguments: [nil, "100"])
    func burst(limit: String?) throws {
        let limitArgs = limit.map { ["--limit", $0] } ?? []
        let r = try netfault(["apply", "6379", "--delay", "100ms", "--for", "30s"] + limitArgs)
        #expect(r.status == 0, "\(r.stderr)")
        let sockets = synBurst(2000, port: 6379)
        defer { sockets.forEach { close($0) } }
        usleep(400_000)  // every SYN has left the 100ms queue; retransmissions wait 1s
        let (sent, dropped, stats) = try netemCounters()
        try cleanUp()
        trace("limit \(limit ?? "default"): netem sent \(sent), dropped \(dropped)")
        #expect(sockets.count == 2000)
        #expect(stats.contains("limit \(limit ?? "10000") delay 100ms"), "\(stats)")
        #expect(sent + dropped >= 2000, "\(stats)")
        if limit == nil {
            #expect(dropped == 0, "\(stats)")
        } else {
            #expect(dropped > 0, "\(stats)")
        }
    }
}

/// The feature probe runs in the caller's own namespace (no unshare: a container may not) and
/// must leave it exactly as it was.
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct DoctorKernelTests {
    @Test(
        "doctor finds netem, prints nothing on stderr, leaves links and qdiscs as they were, and remembers what works")
    func doctorLeavesNoTrace() throws {
        let links = try run("ip", ["-o", "link"]).stdout, qdiscs = try run("tc", ["qdisc", "show"]).stdout
        let cache = "/run/netfault/features.json"
        try? FileManager.default.removeItem(atPath: cache)
        let r = try netfault("doctor", "--json")
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        let results = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(results.contains { $0["feature"] as? String == "netem" && $0["ok"] as? Bool == true }, "\(r.stdout)")
        #expect(try run("ip", ["-o", "link"]).stdout == links)
        #expect(try run("tc", ["qdisc", "show"]).stdout == qdiscs)
        let saved = try String(contentsOfFile: cache, encoding: .utf8)
        #expect(saved.contains("\"netem\"") && saved.contains("\"u32\""), "\(saved)")
    }
}

/// --dry-run prints the steps the executor runs as tc commands: run by real tc, they must make
/// the very state netfault's own apply makes.
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct DryRunKernelTests {
    init() throws { try cleanUp() }

    @Test(
        "the printed tc commands, run by tc, give the state apply gives; --dry-run itself changes nothing",
        arguments: [
            ["redis", "--delay", "100ms"], ["mysql", "--host", "127.0.0.2", "--loss", "5%", "--direction", "both"]
        ])
    func commandsMatchApply(args: [String]) throws {
        let before = try tcSnapshot()
        let dry = try netfault(["apply"] + args + ["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(try tcSnapshot() == before, "--dry-run changed tc")
        let commands = dry.stdout.split(separator: "\n").filter { $0.hasPrefix("tc ") || $0.hasPrefix("ip ") }
        try #require(!commands.isEmpty, "\(dry.stdout)")
        for c in commands {
            let r = try run("/bin/sh", ["-c", String(c)])
            try #require(r.status == 0, "\(c): \(r.stderr)")
        }
        let byTc = try tcSnapshot()
        _ = try run("tc", ["qdisc", "del", "dev", "lo", "root"])
        #expect(try tcSnapshot() == before)
        let applied = try netfault(["apply"] + args)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try tcSnapshot() == byTc, "tc made another state than netfault's apply")
        #expect(try netfault("revert", "--all").status == 0)
        #expect(try tcSnapshot() == before)
    }
}
