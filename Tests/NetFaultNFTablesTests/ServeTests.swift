import Foundation
import TestSupport
import Testing

/// The toxiproxy-python client (PyPI, unmodified) in the venv scripts/install-deps makes.
let toxiproxyPython = "/opt/netfault/toxiproxy/bin/python"
let serveClientPath = packageRoot.appendingPathComponent("scripts/serve-client").path

/// A `netfault serve` running inside a test namespace, on a port it picked.
final class ServeDaemon {
    let process: HeldConnection
    let port: UInt16
    let banner: String

    /// `prefix`: what runs netfault (setpriv, to drop privileges); `binary`: another netfault.
    init(_ ns: Namespace, _ args: [String] = [], journal: String? = nil, prefix: [String] = [], binary: String = netfaultPath)
        throws
    {
        var argv = ["ip", "netns", "exec", ns.name, "/usr/bin/env"]
        if let journal { argv.append("NETFAULT_STATE_DIR=\(journal)") }
        let listens = args.contains("--socket") || args.contains("--listen")
        argv += prefix + [binary, "serve"] + (listens ? [] : ["--listen", "127.0.0.1:0"]) + args
        process = HeldConnection(process: try spawn(argv, captureOutput: true, stdinPipe: true))
        banner = process.readLine(seconds: 60)  // a start took seconds in the VM on a busy host
        if banner.contains("API on unix:") {
            port = 0
            return
        }
        // http://HOST:PORT, HOST 127.0.0.1 or another address (a token listener).
        guard let r = banner.range(of: "http://"),
            case let url = banner[r.upperBound...].prefix(while: { !" \",".contains($0) }),
            let p = UInt16(url.split(separator: ":").last ?? "")
        else {
            kill(process.process.pid, SIGKILL)  // finish waits for it to exit
            let rest = process.finish()
            throw TestFailure("netfault serve did not start: \(banner) \(rest)")
        }
        port = p
        trace("serve: \(banner.trimmingCharacters(in: .whitespacesAndNewlines))")
    }

    var pid: pid_t { process.process.pid }

    /// SIGTERM, then the exit status and what it printed.
    func terminate() -> (status: Int32, output: String) {
        kill(pid, SIGTERM)
        let out = process.finish()
        return (process.exitStatus ?? -1, out)
    }

    deinit {
        kill(pid, SIGKILL)
        process.finish()
    }
}

/// One serve-client step: what the client saw.
struct Step: CustomStringConvertible {
    let fields: [String: Any]
    var name: String { fields["step"] as? String ?? "" }
    var outcome: String { fields["outcome"] as? String ?? "none" }
    var description: String { "\(fields)" }
}

extension Namespace {
    /// scripts/serve-client against the daemon; its steps by name.
    func serveClient(_ daemon: ServeDaemon, _ args: String...) throws -> [String: Step] {
        let r = try exec([toxiproxyPython, serveClientPath, "\(daemon.port)"] + args)
        trace("serve-client \(args.joined(separator: " ")): \(r.stdout)")
        guard r.status == 0 else {
            throw TestFailure("serve-client \(args.joined(separator: " ")): exit \(r.status): \(r.stdout) \(r.stderr)")
        }
        var steps: [String: Step] = [:]
        for line in r.stdout.split(separator: "\n") {
            let s = Step(fields: jsonObject(String(line)))
            steps[s.name] = s
        }
        return steps
    }

    /// One HTTP request to the API from inside: status and body.
    /// `prefix`: what runs curl (setpriv, to call as another user).
    func http(_ daemon: ServeDaemon, _ method: String, _ path: String, _ body: String? = nil, headers: [String] = [],
        prefix: [String] = []) throws -> (status: Int, body: String)
    {
        var args = prefix + ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method]
        for h in headers { args += ["-H", h] }
        if let body { args += ["--data-binary", body] }
        let r = try exec(args + ["http://127.0.0.1:\(daemon.port)\(path)"])
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }
}

@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ServeTests {
    func expect(_ steps: [String: Step], _ name: String, _ outcomes: Set<String>, sourceLocation: SourceLocation = #_sourceLocation) {
        let s = steps[name]
        #expect(s.map { outcomes.contains($0.outcome) } == true,
            "\(name): \(s?.description ?? "missing"), wanted \(outcomes.sorted())", sourceLocation: sourceLocation)
    }

    @Test("kernel backend: toxiproxy-python's proxy, toxics and down() reach the proxy's clients and direct ones")
    func kernelBackendThroughAToxiproxyClient() throws {
        try withServers(redis: [6379], mariadb: true) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            #expect(daemon.banner.contains("deadlines enforced by kernel"), "\(daemon.banner)")
            let steps = try ns.serveClient(daemon, "connection")
            for name in ["redis/before", "mysql/before", "redis/timeout-removed", "mysql/up-again",
                "redis/reset_peer-removed", "redis/after-reset"] {
                expect(steps, name + "/proxy", ["ok"])
                expect(steps, name + "/direct", ["ok"])
            }
            // The hang reaches the server's port itself: direct clients hang too; bandwidth 0 is one.
            for step in ["redis/timeout", "redis/bandwidth0"] {
                expect(steps, step + "/proxy", ["timeout"])
                expect(steps, step + "/direct", ["timeout"])
            }
            // A disabled proxy: its listener closed, and the server refuses new connections.
            expect(steps, "mysql/down/proxy", ["refused"])
            expect(steps, "mysql/down/direct", ["refused"])
            // reset_peer: the client's packets to the server are answered with a RST.
            expect(steps, "redis/reset_peer/direct", ["refused", "reset"])
            expect(steps, "redis/reset_peer/proxy", ["closed", "reset", "error"])
            #expect((steps["destroyed"]?.fields["proxies"] as? [String]) == [])
            let end = daemon.terminate()
            #expect(end.status == 0, "serve exit \(end.status): \(end.output)")
            try ns.expectBaseline()
        }
    }

    @Test("proxy backend: the same client code; toxics act only through the proxy, the kernel untouched")
    func proxyBackendThroughAToxiproxyClient() throws {
        try withServers(redis: [6379], mariadb: true) { ns in
            let daemon = try ServeDaemon(ns, ["--backend", "proxy"])
            let steps = try ns.serveClient(daemon, "connection")
            expect(steps, "redis/before/proxy", ["ok"])
            expect(steps, "redis/timeout/proxy", ["timeout"])
            expect(steps, "redis/timeout/direct", ["ok"])
            expect(steps, "redis/timeout-removed/proxy", ["ok"])
            expect(steps, "mysql/down/proxy", ["refused"])
            expect(steps, "mysql/down/direct", ["ok"])
            expect(steps, "mysql/up-again/proxy", ["ok"])
            expect(steps, "redis/reset_peer/proxy", ["reset", "closed"])
            expect(steps, "redis/reset_peer/direct", ["ok"])
            expect(steps, "redis/after-reset/proxy", ["ok"])
            let latency = try ns.serveClient(daemon, "latency", "100")
            let before = try #require(latency["before"]?.fields["proxy_ms"] as? Double)
            let during = try #require(latency["latency"]?.fields["proxy_ms"] as? Double)
            let direct = try #require(latency["latency"]?.fields["direct_ms"] as? Double)
            // The proxy's own timers: within 10% of the request, as the kernel backend's netem
            // is judged in user-mode Linux (ServeKernelTests).
            #expect(during - before >= 100 && during - before <= 110,
                "a 100 ms downstream latency added \(during - before) ms through the proxy")
            #expect(direct < 50, "the proxy backend delayed a direct client: \(direct) ms")
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }

    @Test("the proxy backend needs no privilege: as nobody it forwards and runs toxics; the kernel backend exits 77")
    func proxyBackendUnprivileged() throws {
        try withServers(mariadb: false) { ns in
            // Copies nobody may run, wherever the build is.
            let dir = "\(ns.dir)/bin"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for name in ["netfault", "netfault-serve"] {
                let from = URL(fileURLWithPath: netfaultPath).deletingLastPathComponent().appendingPathComponent(name).path
                try copyProgram(from, to: "\(dir)/\(name)")
            }
            chmod(ns.dir, 0o755)
            chmod(dir, 0o755)
            let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            let kernel = try ns.exec(nobody + ["\(dir)/netfault", "serve", "--listen", "127.0.0.1:0"])
            #expect(kernel.status == 77 && kernel.stderr.contains("CAP_NET_ADMIN"), "\(kernel)")
            let daemon = try ServeDaemon(ns, ["--backend", "proxy"], prefix: nobody, binary: "\(dir)/netfault")
            let steps = try ns.serveClient(daemon, "connection")
            expect(steps, "redis/before/proxy", ["ok"])
            expect(steps, "redis/timeout/proxy", ["timeout"])
            expect(steps, "redis/after-reset/proxy", ["ok"])
            #expect(daemon.terminate().status == 0)
        }
    }

    @Test("a SIGKILLed daemon's faults end at once: its nf_tables table goes with its socket")
    func killedDaemon() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, ["--json"], journal: ns.journal)
            let started = jsonObject(daemon.banner)
            #expect(started["deadline_enforced_by"] as? String == "kernel" && started["backend"] as? String == "kernel",
                "\(daemon.banner)")
            _ = try ns.serveClient(daemon, "hang")
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379, timeout: 0.5).outcome == "timeout")
            kill(daemon.pid, SIGKILL)
            #expect(awaitExit(daemon.pid, seconds: 5))
            #expect(try ns.awaitTableGone("netfault-", seconds: 2))
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379).outcome == "ok")
            try ns.expectBaseline()
        }
    }

    @Test("the daemon renews its leases while it runs; stopped, its faults end within the lease timeout (10s)")
    func stoppedDaemon() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            _ = try ns.serveClient(daemon, "hang")
            let start = monotonicMs()
            // Past one lease timeout: only renewals keep the fault in force.
            while monotonicMs() - start < 11_500 { usleep(100_000) }
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379, timeout: 0.5).outcome == "timeout",
                "the fault ended while the daemon ran: renewals did not happen")
            #expect(kill(daemon.pid, SIGSTOP) == 0)
            let (outcome, ended) = try ns.awaitOutcome("redis-ping", 6379, "ok", seconds: 13, start: monotonicMs())
            #expect(outcome == "ok" && ended < 10_000 + 1_500,
                "the fault of a stopped daemon ended \(Int(ended)) ms after the stop (\(outcome))")
            kill(daemon.pid, SIGCONT)
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }

    /// Toxiproxy's timeout and reset_peer with a time act on each connection from its own start.
    /// Three connections opened 0.5 s apart (straight on 127.0.0.1, through the proxy, straight on
    /// ::1), PING every 100 ms, timed inside the client: a time kept from the toxic's addition
    /// would end the later ones early. A hung client sends only TCP's resends (0.2, 0.6, 1.4, 3 s
    /// after its PING), so a timeout's reset comes at the first past 2 s: 3 s when idle.
    @Test("timed reset_peer and timeout through toxiproxy-python: each connection reset 2 s after its own start")
    func timedToxicsPerConnection() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            let steps = try ns.serveClient(daemon, "timers", "2000")
            for (kind, latest) in [("reset_peer", 2.5), ("timeout", 7.0)] {
                let ends = steps[kind]?.fields["connections"] as? [String: [String: Any]] ?? [:]
                #expect(ends.count == 3, "\(kind): \(steps)")
                for (via, end) in ends {
                    let outcome = end["outcome"] as? String ?? "", seconds = end["seconds"] as? Double ?? -1
                    let pongs = end["pongs"] as? Int ?? -1
                    // Through the proxy its upstream connection is reset, and the proxy closes the client's.
                    let wanted: Set<String> = via == "proxy" ? ["reset", "closed"] : ["reset"]
                    #expect(wanted.contains(outcome), "\(kind) \(via): \(end)")
                    #expect(seconds >= 2.0 && seconds <= latest + (via == "proxy" ? 0.5 : 0), "\(kind) \(via): \(end)")
                    // reset_peer passes data until the time is up; timeout none at all.
                    #expect(kind == "timeout" ? pongs == 0 : pongs >= 10, "\(kind) \(via): \(end)")
                }
                expect(steps, kind + "/removed", ["ok"])
            }
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }

    @Test("three clients racing on one proxy leave exactly the faults the API lists; reset leaves none")
    func racingClients() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            let race = try #require(try ns.serveClient(daemon, "race", "20")["race"])
            #expect(race.outcome == "ok", "\(race)")
            #expect(race.fields["toxics"] as? [String] == ["a", "b"], "\(race)")
            #expect(race.fields["enabled"] as? Bool == true)
            // a: a hang on the requests, b: on the responses; one lease (table) each, no other.
            let tables = try ns.tables().split(separator: "\n").filter { $0.contains("netfault-") }
            #expect(tables.count == 2, "\(tables)")
            let rules = try ns.ruleset()
            #expect(rules.contains("tcp dport @lease") && rules.contains("tcp sport @lease"), "\(rules)")
            #expect(!rules.contains("reject"), "a reset of the disabled proxy outlived its enable: \(rules)")
            #expect(try ns.http(daemon, "POST", "/reset").status == 204)
            try ns.expectBaseline()
            #expect(daemon.terminate().status == 0)
        }
    }

    @Test("--config creates Toxiproxy's proxies at start; --socket serves on a unix socket with mode 0660")
    func configAndSocket() throws {
        try withServers(mariadb: false) { ns in
            let config = "\(ns.dir)/proxies.json"
            try #"[{"name":"redis","listen":"127.0.0.1:26379","upstream":"127.0.0.1:6379","enabled":true}]"#
                .write(toFile: config, atomically: true, encoding: .utf8)
            let socket = "\(ns.dir)/api.sock"
            let daemon = try ServeDaemon(ns, ["--backend", "proxy", "--config", config, "--socket", socket])
            #expect(try ns.exec("stat", "-c", "%a", socket).stdout.hasPrefix("660"))
            let list = try ns.exec("curl", "-s", "--unix-socket", socket, "http://netfault/proxies")
            #expect(list.stdout.contains(#""listen":"127.0.0.1:26379""#), "\(list.stdout)")
            #expect(try ns.probe("redis-ping", "127.0.0.1", 26379).outcome == "ok")
            #expect(daemon.terminate().status == 0)
            #expect(!FileManager.default.fileExists(atPath: socket), "the socket file outlived the daemon")
            // A bad file: refused before anything starts.
            try #"[{"name":"redis"}]"#.write(toFile: config, atomically: true, encoding: .utf8)
            let bad = try ns.exec(netfaultPath, "serve", "--backend", "proxy", "--config", config, "--listen", "127.0.0.1:0")
            #expect(bad.status == 64 && bad.stderr.contains("missing required field: upstream at proxy 1"), "\(bad)")
        }
    }

    @Test("bad requests get 400, 401, 403, 404 or 409 with a message, and change nothing")
    func badRequests() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal, prefix: ["NETFAULT_TOKEN=s3cret"])
            let auth = ["Authorization: Bearer s3cret"]
            #expect(try ns.http(daemon, "GET", "/proxies").status == 401)
            #expect(try ns.http(daemon, "GET", "/proxies", headers: ["Authorization: Bearer nope"]).status == 401)
            #expect(try ns.http(daemon, "GET", "/proxies", headers: ["Authorization: Bearer "]).status == 401)
            #expect(try ns.http(daemon, "GET", "/version", headers: auth + ["User-Agent: Mozilla/5.0"]).status == 403)
            let made = try ns.http(daemon, "POST", "/proxies", #"{"name":"redis","upstream":"127.0.0.1:6379"}"#, headers: auth)
            #expect(made.status == 201, "\(made)")
            let cases: [(String, String, String?, Int, String)] = [
                ("POST", "/proxies", #"{"name":"redis","upstream":"127.0.0.1:6379"}"#, 409, "proxy already exists"),
                ("POST", "/proxies", #"{"name":"ssh","upstream":"127.0.0.1:22"}"#, 403, "port 22"),
                ("POST", "/proxies", #"{"name":"x"#, 400, "bad request body"),
                ("POST", "/proxies", #"{"upstream":"127.0.0.1:6379"}"#, 400, "missing required field: name"),
                ("GET", "/proxies/nope", nil, 404, "proxy not found"),
                ("POST", "/proxies/redis/toxics", #"{"type":"gremlin"}"#, 400, "invalid toxic type"),
                ("POST", "/proxies/redis/toxics", #"{"type":"latency","attributes":{"latency":-1}}"#, 400, "negative"),
                ("POST", "/proxies/redis/toxics", #"{"type":"timeout","stream":"up"}"#, 400, "stream was invalid"),
                ("POST", "/proxies/redis/toxics", #"{"type":"slicer","stream":"upstream"}"#, 400, "--backend proxy"),
                ("POST", "/proxies/redis/toxics", #"{"type":"timeout","toxicity":1.5}"#, 400, "outside 0...1"),
                ("DELETE", "/proxies/redis/toxics/nope", nil, 404, "toxic not found"),
                ("PUT", "/proxies/redis", "{}", 405, "method not allowed"),
            ]
            for (method, path, body, status, words) in cases {
                let r = try ns.http(daemon, method, path, body, headers: auth)
                #expect(r.status == status && r.body.contains(words), "\(method) \(path) \(body ?? ""): \(r)")
            }
            // None of them left a fault: the proxy has no toxic, the ruleset is as before.
            #expect(try ns.http(daemon, "GET", "/proxies/redis/toxics", headers: auth).body == "[]")
            try ns.expectBaseline()
            #expect(daemon.terminate().status == 0)
        }
    }
}

@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ServeExampleTests {
    /// examples/serve's unittest suite, as a user runs it, against both backends.
    @Test("examples/serve/test_redis_resilience.py passes with both backends (without netem, its latency case says so)",
          arguments: ["kernel", "proxy"])
    func exampleSuite(backend: String) throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, ["--backend", backend], journal: ns.journal)
            let r = try ns.exec(
                "/usr/bin/env", "TOXIPROXY_PORT=\(daemon.port)", toxiproxyPython, "-m", "unittest", "-v",
                packageRoot.appendingPathComponent("examples/serve/test_redis_resilience.py").path)
            trace("example (\(backend)): \(r.stderr)")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("Ran 3 tests"), "\(r.stderr)")
            if backend == "proxy" {
                #expect(r.stderr.contains("\nOK\n") || r.stderr.hasSuffix("OK\n"), "\(r.stderr)")
            }
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }
}

/// The kernel backend where the kernel has netem and nf_tables (Debian's kernel in a VM): the
/// daemon's own table steers a latency toxic's packets into its netem band, so the delay ends
/// with the daemon. Timers under the VM's emulation are coarse: behaviour, not precision.
@Suite(.serialized, .enabled(if: NFT.netem, NFT.netemReason))
struct ServeCombinedTests {
    @Test("a latency toxic (netem, steered by the daemon's table) beside reset_peer (nf_tables); killed, the delay ends at once")
    func latencyAndResetHeldByTheDaemon() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let tcBefore = try ns.tcState()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            #expect(daemon.banner.contains("deadlines enforced by kernel"), "\(daemon.banner)")
            let held = try ns.hold("redis", "127.0.0.1", 6379, timeout: 5)
            #expect(try ns.http(daemon, "POST", "/proxies", #"{"name":"redis","upstream":"127.0.0.1:6379"}"#).status == 201)
            let latency = try ns.http(
                daemon, "POST", "/proxies/redis/toxics", #"{"type":"latency","attributes":{"latency":500}}"#)
            #expect(latency.status == 200, "\(latency)")
            let ping = try held.next()
            #expect(ping.outcome == "ok" && ping.elapsedMs >= 450, "an open connection under a 500 ms latency: \(ping)")
            let reset = try ns.http(
                daemon, "POST", "/proxies/redis/toxics", #"{"type":"reset_peer","stream":"upstream"}"#)
            #expect(reset.status == 200, "\(reset)")
            let connect = try ns.probe("connect", "127.0.0.1", 6379)
            #expect(connect.outcome == "refused", "\(connect)")
            #expect(try ns.http(daemon, "DELETE", "/proxies/redis/toxics/reset_peer_upstream").status == 204)
            let slow = try ns.probe("redis-ping", "127.0.0.1", 6379, timeout: 5)
            #expect(slow.outcome == "ok" && slow.elapsedMs >= 450, "after reset_peer's removal: \(slow)")
            kill(daemon.pid, SIGKILL)
            #expect(awaitExit(daemon.pid, seconds: 10))
            #expect(try ns.awaitTableGone("netfault-", seconds: 5))
            let fast = try ns.probe("redis-ping", "127.0.0.1", 6379, timeout: 5)
            #expect(fast.outcome == "ok" && fast.elapsedMs < 450, "the delay outlived the daemon: \(fast)")
            // The idle band had only the daemon's claim: the next command removes it.
            _ = try ns.netfault("status")
            #expect(try ns.tcState() == tcBefore)
            try ns.expectBaseline()
        }
    }
}
