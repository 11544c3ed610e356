import Foundation
import TestSupport
import Testing

/// `netfault matrix` end to end on this kernel: a real redis-server, a real client (redis-py)
/// as the command, both backends, and the report it writes.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct MatrixTests {
    /// The command: 40 PINGs on one connection, 15 ms apart (so that 100 ms samples see it),
    /// with 1 s library timeouts; it writes its round trips where the matrix asks.
    static let client = """
        import json, os, redis, time
        host, port = os.environ["APP_REDIS"].split(":")
        r = redis.Redis(host, int(port), socket_timeout=1, socket_connect_timeout=1)
        trips = 1
        for _ in range(40):
            r.ping(); trips += 1; time.sleep(0.015)
        with open(os.environ["NETFAULT_MATRIX_METRICS"], "w") as f:
            json.dump({"round_trips.redis": trips}, f)
        print("uid", os.getuid(), "pings ok")
        """

    func scenario(_ ns: Namespace, faults: String, extra: String = "") throws -> String {
        try Self.client.write(toFile: "\(ns.dir)/client.py", atomically: true, encoding: .utf8)
        let path = "\(ns.dir)/matrix.yaml"
        try """
            command: [\(python), client.py]
            timeout: 30s
            \(extra)
            services:
              redis:
                upstream: 127.0.0.1:6379
                listen: 127.0.0.1:16379
                env: APP_REDIS
            faults:
            \(faults)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func matrix(_ ns: Namespace, _ args: [String], env: [String] = []) throws -> (run: Run, report: [String: Any]) {
        let r = try ns.execNetfault(["matrix"] + args + ["--json"], env: env)
        trace("matrix \(args): exit \(r.status)\n\(r.stderr)")
        let report = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
        return (r, report)
    }

    func cells(_ report: [String: Any]) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for c in report["cells"] as? [[String: Any]] ?? [] { out[c["id"] as? String ?? ""] = c }
        return out
    }

    func peak(_ cell: [String: Any]?) -> Int {
        ((cell?["connections"] as? [[String: Any]])?.first?["peak"] as? Int) ?? -1
    }

    @Test("both backends under blackhole, reset and a transient blackout: outcomes, counts, disagreements, reports")
    func smallMatrix() throws {
        try withServers(mariadb: false) { ns in
            let file = try scenario(
                ns,
                faults: """
                      blackhole: {fault: --blackhole}
                      reset: {fault: --reset}
                      blip: {fault: --blackhole, after: 100ms, every: 400ms, on: 150ms}
                    """)
            let out = "\(ns.dir)/out"
            let (r, report) = try matrix(ns, [file, "--out", out])
            #expect(r.status == 0, "\(r.stderr)")
            let c = cells(report)
            #expect(
                (report["cells"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [
                    "baseline/kernel", "baseline/proxy", "redis/blackhole/kernel", "redis/blackhole/proxy",
                    "redis/reset/kernel", "redis/reset/proxy", "redis/blip/kernel", "redis/blip/proxy",
                ])
            for id in ["baseline/kernel", "baseline/proxy"] {
                #expect(c[id]?["state"] as? String == "passed", "\(id): \(c[id] ?? [:])")
                #expect(peak(c[id]) == 1, "\(id) held one connection: \(c[id]?["connections"] ?? "")")
            }
            // The kernel drops the SYN; the proxy accepts, then passes nothing.
            #expect(
                c["redis/blackhole/kernel"]?["outcome"] as? String == "failed (exit 1), connect never completed, saw: timeout")
            #expect(c["redis/blackhole/proxy"]?["outcome"] as? String == "failed (exit 1), connected then failed, saw: timeout")
            #expect(c["redis/blackhole/kernel"]?["connected"] as? Bool == false)
            #expect(c["redis/blackhole/proxy"]?["connected"] as? Bool == true)
            // redis-py says what its socket got: the kernel's reset answers the SYN.
            #expect((c["redis/reset/kernel"]?["outcome"] as? String)?.hasSuffix("saw: connection refused") == true)
            #expect((c["redis/blackhole/kernel"]?["packetsMatched"] as? Int ?? 0) > 0)
            #expect(c["redis/blackhole/proxy"]?["packetsMatched"] == nil)
            #expect(c["redis/reset/kernel"]?["state"] as? String == "failed")
            #expect(c["redis/reset/proxy"]?["state"] as? String == "failed")
            let disagreements = report["disagreements"] as? [[String: Any]] ?? []
            #expect(disagreements.contains { $0["service"] as? String == "redis" && $0["fault"] as? String == "blackhole" })
            for (id, cell) in c where cell["service"] != nil {
                #expect((cell["recovery"] as? [String: Any])?["passed"] as? Bool == true, "\(id) did not recover")
                #expect(cell["rerun"] as? String == "netfault matrix \(file) --only \(id)")
                #expect((cell["kernel"] as? String)?.isEmpty == false)
            }
            // The blip's 150 ms outages within 400 ms, against 15 ms pings with 1 s timeouts:
            // whatever the client made of them, the kernel's rules saw its packets.
            #expect((c["redis/blip/kernel"]?["packetsMatched"] as? Int ?? 0) > 0, "\(c["redis/blip/kernel"] ?? [:])")
            #expect(c["redis/blip/kernel"]?["schedule"] as? String == "after 100ms, on 150ms every 400ms")
            for name in ["report.json", "report.xml", "report.html"] {
                let size = (try? FileManager.default.attributesOfItem(atPath: "\(out)/\(name)")[.size] as? Int) ?? 0
                #expect(size > 500, "\(out)/\(name) is \(size) bytes")
            }
            #expect(try ns.exec("nft", "list", "tables").stdout.isEmpty, "a table outlived the matrix")

            // --only runs that cell again, with its backend's baseline, and it ends the same way.
            let (again, one) = try matrix(ns, [file, "--only", "redis/blackhole/kernel"])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(Array(cells(one).keys).sorted() == ["baseline/kernel", "redis/blackhole/kernel"])
            #expect(cells(one)["redis/blackhole/kernel"]?["connected"] as? Bool == false)
        }
    }

    @Test("the command runs as the invoking user under sudo, and its connections are counted from the kernel")
    func runsAsTheInvokingUser() throws {
        try withServers(mariadb: false) { ns in
            // A client that leaks: twelve connections opened and held, never closed. It ends with
            // os._exit, as a crash would: Python's normal exit closes its sockets first, which
            // the last sample (up to 100 ms before the end) may or may not see. It holds them 2 s,
            // so that samples 100 ms apart see them on a busy machine too (0.6 s once missed).
            let leak = """
                import os, socket, time
                host, port = os.environ["APP_REDIS"].split(":")
                held = [socket.create_connection((host, int(port))) for _ in range(12)]
                time.sleep(2)
                print("uid", os.getuid(), "holding", len(held), flush=True)
                os._exit(0)
                """
            try leak.write(toFile: "\(ns.dir)/leak.py", atomically: true, encoding: .utf8)
            let file = try scenario(
                ns, faults: "  reset: {fault: --reset}",
                extra: "env: {UNUSED: x}")
            let yaml = try String(contentsOfFile: file, encoding: .utf8)
                .replacingOccurrences(of: "command: [\(python), client.py]", with: "command: [\(python), leak.py]")
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            // The scenario's directory must be reachable for nobody.
            chmod(ns.dir, 0o755)
            let (r, report) = try matrix(
                ns, [file, "--only", "baseline/kernel", "--only", "baseline/proxy"],
                env: ["SUDO_UID=65534", "SUDO_GID=65534"])
            #expect(r.status == 0, "\(r.stderr)")
            let c = cells(report)
            for id in ["baseline/kernel", "baseline/proxy"] {
                #expect((c[id]?["outputTail"] as? String)?.contains("uid 65534 holding 12") == true, "\(c[id] ?? [:])")
                let counts = (c[id]?["connections"] as? [[String: Any]])?.first ?? [:]
                #expect(counts["peak"] as? Int == 12, "\(id): \(counts)")
                #expect(counts["final"] as? Int == 12, "\(id): \(counts)")
                #expect(counts["port"] as? Int == (id.hasSuffix("kernel") ? 6379 : 16379))
            }
        }
    }

    @Test("a baseline that ignores SIGTERM and outlives its timeout exits 2: the fault cells could not run")
    func baselineTimedOut() throws {
        try withServers(mariadb: false) { ns in
            let file = "\(ns.dir)/stubborn.yaml"
            try """
                command: [sh, -c, "trap '' TERM; sleep 30"]
                timeout: 1s
                backends: [kernel]
                services:
                  redis: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:16379, env: APP_REDIS}
                faults:
                  reset: {fault: --reset}
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let (r, report) = try matrix(ns, [file])
            #expect(r.status == 2, "exit \(r.status): \(r.stderr)")
            let c = cells(report)
            #expect(c["baseline/kernel"]?["state"] as? String == "failed", "\(c)")
            #expect(c["redis/reset/kernel"]?["state"] as? String == "skipped", "\(c)")
            #expect(r.stderr.contains("baseline/kernel did not pass"), "\(r.stderr)")
        }
    }

    @Test("a bad scenario exits 64 with its line, before anything runs")
    func badScenario() throws {
        try withNamespace { ns in
            let file = "\(ns.dir)/bad.yaml"
            try "command: x\nservices:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults:\n  d: {fault: --delay 10 ms}\n"
                .write(toFile: file, atomically: true, encoding: .utf8)
            let r = try ns.exec(netfaultPath, "matrix", file)
            #expect(r.status == 64)
            #expect(r.stderr.contains("\(file):5:"), "\(r.stderr)")
        }
    }

    @Test("a proxy listen address that is taken exits 69 naming it, before any cell runs")
    func listenAddressTaken() throws {
        try withServers(mariadb: false) { ns in
            let file = try scenario(ns, faults: "  reset: {fault: --reset}")
            // redis-server itself holds the listen address the scenario gives the proxy.
            try ns.startRedis(port: 16379, bind: "127.0.0.1")
            let (r, _) = try matrix(ns, [file])
            #expect(r.status == 69, "\(r.stderr)")
            #expect(r.stderr.contains("the proxy for redis cannot listen on 127.0.0.1:16379"), "\(r.stderr)")
            #expect(!r.stderr.contains("[1/"), "a cell ran: \(r.stderr)")
        }
    }
}
