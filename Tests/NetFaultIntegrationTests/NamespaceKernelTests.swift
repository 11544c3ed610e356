import Foundation
import TestSupport
import Testing

/// --netns and --netns-pid: faults inside another network namespace, on a real kernel.
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct NamespaceKernelTests {
    init() throws { try cleanUp() }

    func sh(_ cmd: String) throws -> Run { try run("/bin/sh", ["-c", cmd]) }

    /// redis-cli's --latency summary ("min max avg count") over about 2s, inside a namespace.
    func averageLatency(_ enter: String) throws -> Double {
        // redis-cli prints its summary after 2s; an emulated VM needs longer just to start it.
        let r = try sh(
            "\(enter) timeout \(Kernel.emulated ? 15 : 4) redis-cli -p 6379 --latency -i 2 --raw | tail -1")
        let fields = r.stdout.split(separator: " ")
        return fields.count >= 3 ? Double(fields[2]) ?? -1 : -1
    }

    @Test("--netns NAME puts the faults in that namespace only; status names it; revert and the deadline clear it")
    func namedNamespace() throws {
        try #require(try sh("ip netns add nfns1 && ip -n nfns1 link set lo up").status == 0)
        defer { _ = try? sh("ip netns pids nfns1 | xargs -r kill; sleep 0.2; ip netns del nfns1") }
        let server = try spawn(
            [
                "ip", "netns", "exec", "nfns1", "redis-server", "--port", "6379", "--save", "",
                "--appendonly", "no", "--dir", "/var/tmp"
            ], captureOutput: false
        ).pid
        defer { kill(server, SIGTERM); _ = waitStatus(server) }
        usleep(500_000)
        let hostBefore = try tcSnapshot()
        let nsBefore = try sh("ip netns exec nfns1 tc qdisc show dev lo").stdout
        let r = try netfault("apply", "redis", "--netns", "nfns1", "--delay", "50ms", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let obj: [String: Any]? = try jsonObject(r)
        #expect(obj?["netns"] as? String == "nfns1")
        #expect(try sh("ip netns exec nfns1 tc qdisc show dev lo").stdout.contains("delay 50ms"))
        #expect(try tcSnapshot() == hostBefore, "the host's lo is untouched")
        let during = try averageLatency("ip netns exec nfns1")
        #expect(during >= 45 && (during <= 70 || Kernel.emulated), "PING inside nfns1 took \(during) ms on average")
        #expect(try netfault("status", "--netns", "nfns1").stdout.contains("in netns nfns1"))
        #expect(try netfault("status", "--all-namespaces").stdout.contains("in netns nfns1"))
        #expect(!(try netfault("status").stdout.contains("in netns nfns1")), "the host's status lists only its own leases")
        #expect(try netfault("revert", try leaseID(r)).status == 0)
        #expect(try sh("ip netns exec nfns1 tc qdisc show dev lo").stdout == nsBefore)

        let short = try netfault("apply", "redis", "--netns", "nfns1", "--delay", "5ms", "--for", "1s")
        #expect(short.status == 0, "\(short.stderr)")
        usleep(2_500_000)
        #expect(
            try sh("ip netns exec nfns1 tc qdisc show dev lo").stdout == nsBefore, "the watchdog reverted inside nfns1")
    }

    @Test("--netns-pid reaches a process's namespace (unshare --net holding redis-server)")
    func processNamespace() throws {
        let holder = try spawn(
            [
                "unshare", "--net", "/bin/sh", "-c",
                "ip link set lo up; exec redis-server --port 6379 --save '' --appendonly no --dir /var/tmp"
            ],
            captureOutput: false
        ).pid
        defer { kill(holder, SIGTERM); _ = waitStatus(holder) }
        usleep(500_000)
        let enter = "nsenter -t \(holder) -n"
        let before = try sh("\(enter) tc qdisc show dev lo").stdout
        let r = try netfault("apply", "redis", "--netns-pid", "\(holder)", "--delay", "40ms", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try sh("\(enter) tc qdisc show dev lo").stdout.contains("delay 40ms"))
        let during = try averageLatency(enter)
        #expect(during >= 35 && during <= 60, "PING inside the process's namespace took \(during) ms on average")
        let status = try netfault("status", "--json", "--all-namespaces")
        #expect(status.stdout.contains("\"pid \(holder)\""), "\(status.stdout)")
        #expect(!(try netfault("status", "--json").stdout.contains("\"pid \(holder)\"")), "status lists only its own namespace")
        #expect(try netfault("revert", "--all").status == 0)
        #expect(try sh("\(enter) tc qdisc show dev lo").stdout.contains("delay 40ms"), "revert --all reached another namespace")
        #expect(try netfault("revert", "--all", "--all-namespaces").status == 0)
        #expect(try sh("\(enter) tc qdisc show dev lo").stdout == before)
    }

    @Test(
        "a namespace that does not exist, or two at once, is refused with exit 64",
        arguments: [
            (["--netns", "nope"], "no network namespace 'nope'"),
            (["--netns", "a/b"], "is not a namespace name"),
            (["--netns-pid", "999999"], "no process 999999"),
            (["--netns", "x", "--netns-pid", "1"], "not both")
        ])
    func badNamespace(args: [String], message: String) throws {
        let r = try run(netfaultPath, ["apply", "redis", "--delay", "5ms"] + args)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }
}
