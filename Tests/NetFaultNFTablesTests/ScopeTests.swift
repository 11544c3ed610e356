import Foundation
import TestSupport
import Testing

/// --uid and run --scope command on this host's kernel, in a fresh namespace against a real
/// redis-server on loopback: the scoped connections meet the faults, another process's to the
/// same port at the same time do not (both asserted while the lease is in force). netfault run
/// goes in with nsenter, not `ip netns exec`, whose fresh /sys hides the cgroup2 mount. Files
/// under the namespace's directory order the steps: nothing depends on the machine's speed.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ScopeTests {
    /// Letters as ConnectionShareTests.client prints them: R refused, O open/PONG, T no answer.
    func connect(_ ns: Namespace, _ host: String, count: Int, ping: Bool = false, as uid: String? = nil) throws
        -> String
    {
        let drop = uid.map { ["setpriv", "--reuid", $0, "--regid", $0, "--clear-groups"] } ?? []
        // The system's python: root's PATH may lead to a pyenv shim another user cannot run.
        let client = ["/usr/bin/python3", "-c", ConnectionShareTests.client, host, "6379", "\(count)", ping ? "ping" : "open"]
        let r = try ns.exec(drop + client)
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The same client as a shell command, its letters into `file` (for a scoped run's command).
    func clientLine(_ host: String, count: Int, ping: Bool, into file: String) -> String {
        let script = ConnectionShareTests.client.replacingOccurrences(of: "'", with: "'\\''")
        return "python3 -c '\(script)' \(host) 6379 \(count) \(ping ? "ping" : "open") > \(file)"
    }

    /// `netfault run ARGS -- sh -c SCRIPT` inside the namespace through nsenter, not waited for.
    func startRun(_ ns: Namespace, _ args: [String], script: String) throws -> Spawned {
        let argv =
            ["nsenter", "--net=/run/netns/\(ns.name)", "/usr/bin/env", "NETFAULT_STATE_DIR=\(ns.dir)/inside"]
            + [netfaultPath, "run"] + args + ["--", "sh", "-c", script]
        return try spawn(argv, captureOutput: true)
    }

    func awaitFile(_ path: String, seconds: Double = 60) -> Bool {
        let deadline = monotonicMs() + seconds * 1000
        repeat {
            if FileManager.default.fileExists(atPath: path) { return true }
            usleep(20_000)
        } while monotonicMs() < deadline
        return false
    }

    /// Which of these runs' cgroups (netfault-run-PID, PID: run's own, which nsenter and env
    /// keep) are still below the cgroup2 mount's root. Only the test's own: another checkout's
    /// tests may run beside these.
    func runCgroupsLeft(_ runs: Spawned...) throws -> [String] {
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let line = try #require(mounts.split(separator: "\n").first { $0.contains(" - cgroup2 ") })
        let root = String(line.split(separator: " ")[4])
        return runs.map { "\(root)/netfault-run-\($0.pid)" }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    @Test(
        "run --scope command --reject: the command is refused, another client at the same moment is not",
        arguments: ["127.0.0.1", "::1"])
    func commandOnly(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            let (ready, done, out) = ("\(ns.dir)/ready", "\(ns.dir)/done", "\(ns.dir)/out")
            let script = clientLine(host, count: 3, ping: false, into: out)
                + "; touch \(ready); while [ ! -e \(done) ]; do sleep 0.05; done"
            let run = try startRun(ns, ["6379", "--reject", "--scope", "command", "--for", "5m"], script: script)
            #expect(awaitFile(ready), "the command never got past its connections")
            #expect(try runCgroupsLeft(run).count == 1, "the run's cgroup, while its command runs")
            // The lease is in force while the command waits: another process's connections pass.
            #expect(try connect(ns, host, count: 3) == "OOO")
            FileManager.default.createFile(atPath: done, contents: nil)
            let r = collect(run)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try String(contentsOfFile: out, encoding: .utf8).hasPrefix("RRR"), "the command's own: \(r.stderr)")
            #expect(r.stderr.contains("only cgroup /"), "\(r.stderr)")
            #expect(try runCgroupsLeft(run).isEmpty)
            #expect(try connect(ns, host, count: 3) == "OOO")
        }
    }

    /// --connections draws among the scoped connections only: every second of the command's.
    @Test("run --scope command --reject --connections every:2 refuses every second of the command's connections")
    func withShare() throws {
        try withServers(mariadb: false) { ns in
            let (ready, done, out) = ("\(ns.dir)/ready", "\(ns.dir)/done", "\(ns.dir)/out")
            let script = clientLine("127.0.0.1", count: 4, ping: false, into: out)
                + "; touch \(ready); while [ ! -e \(done) ]; do sleep 0.05; done"
            let run = try startRun(
                ns, ["6379", "--reject", "--connections", "every:2", "--scope", "command", "--for", "5m"],
                script: script)
            #expect(awaitFile(ready))
            #expect(try connect(ns, "127.0.0.1", count: 4) == "OOOO", "outside the scope, none is drawn")
            FileManager.default.createFile(atPath: done, contents: nil)
            let r = collect(run)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try String(contentsOfFile: out, encoding: .utf8).hasPrefix("OROR"), "\(r.stderr)")
            #expect(try runCgroupsLeft(run).isEmpty)
        }
    }

    /// Two runs at once on one port, one --reject and one --hang: each sees its own fault only,
    /// and a third client sees neither.
    @Test("two run --scope command at once on one port, --reject and --hang, each see only their own")
    func twoRuns() throws {
        try withServers(mariadb: false) { ns in
            let go = "\(ns.dir)/go"
            func script(_ name: String) -> String {
                "touch \(ns.dir)/ready-\(name); while [ ! -e \(go) ]; do sleep 0.05; done; "
                    + clientLine("127.0.0.1", count: 2, ping: true, into: "\(ns.dir)/out-\(name)")
            }
            let reject = try startRun(
                ns, ["6379", "--reject", "--scope", "command", "--for", "5m"], script: script("reject"))
            let hang = try startRun(ns, ["6379", "--hang", "--scope", "command", "--for", "5m"], script: script("hang"))
            #expect(awaitFile("\(ns.dir)/ready-reject") && awaitFile("\(ns.dir)/ready-hang"))
            #expect(try connect(ns, "127.0.0.1", count: 2, ping: true) == "OO", "an outsider under both leases")
            FileManager.default.createFile(atPath: go, contents: nil)
            let (r1, r2) = (collect(reject), collect(hang))
            #expect(r1.status == 0 && r2.status == 0, "\(r1.stderr)\n\(r2.stderr)")
            let out = { (n: String) in (try? String(contentsOfFile: "\(ns.dir)/out-\(n)", encoding: .utf8)) ?? "" }
            #expect(out("reject").hasPrefix("RR"), "\(r1.stderr)")
            #expect(out("hang").hasPrefix("TT"), "\(r2.stderr)")
            #expect(try runCgroupsLeft(reject, hang).isEmpty)
        }
    }

    /// run SIGKILLed: its watchdog reverts, ends the command and removes its cgroup. Then a
    /// second run whose watchdog is SIGKILLed: the table goes with it, and run removes the cgroup.
    @Test("SIGKILL of run, and of a scoped run's watchdog, leave nothing in the ruleset or the cgroups")
    func nothingLeft() throws {
        try withServers(mariadb: false) { ns in
            let pidFile = "\(ns.dir)/pid"
            let run = try startRun(
                ns, ["6379", "--reject", "--scope", "command", "--for", "5m"],
                script: "echo $$ > \(pidFile).tmp; mv \(pidFile).tmp \(pidFile); exec sleep 300")
            #expect(awaitFile(pidFile))
            #expect(try runCgroupsLeft(run).count == 1, "the run's cgroup, while its command runs")
            let text = try String(contentsOfFile: pidFile, encoding: .utf8)
            let command = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(kill(run.pid, SIGKILL) == 0)
            _ = collect(run)
            #expect(awaitExit(command, seconds: 30), "the watchdog ended the command")
            let deadline = monotonicMs() + 30_000
            while try !runCgroupsLeft(run).isEmpty && monotonicMs() < deadline { usleep(20_000) }
            #expect(try runCgroupsLeft(run).isEmpty)
            #expect(try ns.ruleset() == ns.baseline)
            #expect(try connect(ns, "127.0.0.1", count: 3) == "OOO")

            let done = "\(ns.dir)/done"
            let second = try startRun(
                ns, ["6379", "--reject", "--scope", "command", "--for", "5m"],
                script: "touch \(ns.dir)/ready; while [ ! -e \(done) ]; do sleep 0.05; done")
            #expect(awaitFile("\(ns.dir)/ready"))
            let status = try ns.execNetfault(["status", "--json"])
            let lease = try #require((jsonObject(status)["leases"] as? [[String: Any]])?.first, "\(status.stdout)")
            #expect((lease["requested_netfilter"] as? [String: String])?["scope"]?.hasPrefix("cgroup /") == true)
            let watchdog = try #require(lease["watchdog_pid"] as? Int, "\(lease)")
            #expect(kill(pid_t(watchdog), SIGKILL) == 0)
            #expect(try ns.awaitTableGone("netfault-\(lease["lease"] as? String ?? "")", seconds: 10))
            FileManager.default.createFile(atPath: done, contents: nil)
            _ = collect(second)
            #expect(try runCgroupsLeft(second).isEmpty)
            #expect(try ns.ruleset() == ns.baseline)
        }
    }

    @Test("apply --uid 65534 --reject refuses nobody's connections and not root's; status shows the scope")
    func uid() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--reject", "--uid", "65534", "--for", "5m")
            #expect(try connect(ns, "127.0.0.1", count: 3, as: "65534") == "RRR")
            #expect(try connect(ns, "127.0.0.1", count: 3) == "OOO")
            #expect(try connect(ns, "::1", count: 2, as: "65534") == "RR")
            let status = try #require(try ns.statusLeases().first { $0["lease"] as? String == lease.id })
            #expect((status["requested_netfilter"] as? [String: String])?["scope"] == "uid 65534", "\(status)")
            #expect(status["connections_drawn_in"] as? Int == 5, "\(status)")
            #expect(try ns.revert(lease.id).status == 0)
            #expect(try connect(ns, "127.0.0.1", count: 3, as: "65534") == "OOO")
        }
    }

    /// Connects with a 2 s timeout: T when the SYN goes unanswered, O when it connects.
    static let blackholeClient = """
        import socket, sys
        out = []
        for _ in range(int(sys.argv[2])):
            try:
                socket.create_connection((sys.argv[1], 6379), timeout=2).close(); out.append("O")
            except (socket.timeout, TimeoutError):
                out.append("T")
        print("".join(out))
        """

    @Test("apply --uid 65534 --blackhole blackholes nobody's connections and not root's, at the same time")
    func uidBlackhole() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--blackhole", "--uid", "65534", "--for", "5m")
            func client(_ host: String, _ count: Int, as uid: String?) throws -> String {
                let drop = uid.map { ["setpriv", "--reuid", $0, "--regid", $0, "--clear-groups"] } ?? []
                let r = try ns.exec(drop + ["/usr/bin/python3", "-c", Self.blackholeClient, host, "\(count)"])
                #expect(r.status == 0, "\(r.stderr)")
                return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            // Root connects while nobody's SYNs go unanswered, under the one lease.
            let nobody = try spawn(
                ["ip", "netns", "exec", ns.name, "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                 "/usr/bin/python3", "-c", Self.blackholeClient, "127.0.0.1", "2"], captureOutput: true)
            #expect(try client("127.0.0.1", 3, as: nil) == "OOO")
            let r = collect(nobody)
            #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "TT", "\(r.stderr)")
            #expect(try client("::1", 1, as: "65534") == "T")
            #expect(try client("::1", 2, as: nil) == "OO")
            #expect(try ns.revert(lease.id).status == 0)
            #expect(try client("127.0.0.1", 2, as: "65534") == "OO")
        }
    }

    /// Connects from source port 40404: "O" connected, "T" timed out.
    static let fixedPortClient = """
        import socket, sys
        c = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); c.bind((sys.argv[1], 40404)); c.settimeout(2)
        try:
            c.connect((sys.argv[1], 6379)); print("O")
        except (socket.timeout, TimeoutError):
            print("T")
        """

    /// The scope's lot is kept by addresses and ports: an unanswered connect leaves no TIME-WAIT,
    /// so the next connection from its source port is another socket's, decided afresh at its SYN.
    /// Before, root's connect from the port nobody's blackholed connect had used timed out.
    @Test("--uid 65534 --blackhole: root reusing the source port of nobody's blackholed connect gets through")
    func reusedSourcePort() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--blackhole", "--uid", "65534", "--for", "5m")
            func client(_ host: String, as uid: String?) throws -> String {
                let drop = uid.map { ["setpriv", "--reuid", $0, "--regid", $0, "--clear-groups"] } ?? []
                let r = try ns.exec(drop + ["/usr/bin/python3", "-c", Self.fixedPortClient, host])
                #expect(r.status == 0, "\(r.stderr)")
                return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            for host in ["127.0.0.1", "::1"] {
                let lots = try [client(host, as: "65534"), client(host, as: nil), client(host, as: "65534")]
                #expect(lots == ["T", "O", "T"], "\(host): nobody, root, nobody from port 40404: \(lots)")
            }
            #expect(try ns.revert(lease.id).status == 0)
        }
    }

    /// A scoped lease takes only connections opened after it goes in, so one put in while the
    /// command runs would miss those it holds: --after and --every are refused before anything.
    @Test("run --scope command --reject --after 1s exits 64 saying why, and changes nothing")
    func scheduled() throws {
        try withServers(mariadb: false) { ns in
            let r = try ns.execNetfault(["run", "6379", "--reject", "--scope", "command", "--after", "1s", "--", "true"])
            #expect(r.status == 64 && r.stderr.contains("opened after it goes in"), "\(r.status) \(r.stderr)")
            #expect(try ns.ruleset() == ns.baseline)
        }
    }
}

/// run --scope command with a netem fault, on a kernel with netem and nf_tables (Debian's own in
/// a VM, scripts/vm-test combined): the lease's table steers only the command's connections into
/// the netem band. The delay is large (500ms) and the bounds wide, as in CombinedFaultTests:
/// netem never delivers early, and an outsider's round trips stay far below the delay.
@Suite(.serialized, .enabled(if: NFT.netem, NFT.netemReason))
struct ScopedNetemTests {
    /// Ten PINGs on one connection; prints their round trips in ms, sorted.
    static let timer = """
        import socket, sys, time
        s = socket.create_connection(("127.0.0.1", 6379), timeout=30); t = []
        for _ in range(10):
            a = time.monotonic(); s.sendall(b"PING\\r\\n"); s.recv(64); t.append((time.monotonic() - a) * 1000)
        print(" ".join("%.0f" % x for x in sorted(t)))
        """

    @Test("run --scope command --delay 500ms: the command's round trips take the delay, an outsider's do not")
    func delayCommandOnly() throws {
        try withServers(mariadb: false) { ns in
            let (ready, done, out) = ("\(ns.dir)/ready", "\(ns.dir)/done", "\(ns.dir)/out")
            let quoted = Self.timer.replacingOccurrences(of: "'", with: "'\\''")
            let run = try ScopeTests().startRun(
                ns, ["6379", "--delay", "500ms", "--scope", "command", "--for", "5m"],
                script: "/usr/bin/python3 -c '\(quoted)' > \(out); touch \(ready); while [ ! -e \(done) ]; do sleep 0.05; done")
            #expect(ScopeTests().awaitFile(ready, seconds: 120))
            let outside = try ns.exec("/usr/bin/python3", "-c", Self.timer)
            FileManager.default.createFile(atPath: done, contents: nil)
            let r = collect(run)
            #expect(r.status == 0, "\(r.stderr)")
            let inside = (try String(contentsOfFile: out, encoding: .utf8)).split(separator: " ").compactMap {
                Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let theirs = outside.stdout.split(separator: " ").compactMap {
                Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            trace("scoped --delay 500ms: command \(inside), outsider \(theirs)")
            #expect(inside.count == 10 && theirs.count == 10, "\(inside) \(theirs) \(outside.stderr)")
            #expect((inside.first ?? 0) >= 450, "every round trip of the command's is delayed: \(inside)")
            #expect(theirs.count == 10 && theirs[4] < 250, "an outsider's median stays below half the delay: \(theirs)")
            #expect(try ns.tcState().contains("netem") == false, "the band went with the lease")
        }
    }

    /// The server in another namespace over a veth: run, in the client's namespace, delays the
    /// command's requests on the veth; one long-lived probe beside it (an outsider, started
    /// before the lease) stamps its own exchanges, which stay at the baseline meanwhile.
    @Test("run --scope command --delay 200ms to a server over a veth: the command's round trips +200 ms, an outsider's not")
    func delayOverVeth() throws {
        try withTwoHosts { server, client, _ in
            let outsider = try ExchangeStream(namespace: client, host: "10.77.0.1", port: 6379)
            defer { outsider.stop() }
            let (ready, done, out) = ("\(server.dir)/ready", "\(server.dir)/done", "\(server.dir)/out")
            let timer = Self.timer.replacingOccurrences(of: "127.0.0.1", with: "10.77.0.1")
                .replacingOccurrences(of: "'", with: "'\\''")
            let argv =
                ["nsenter", "--net=/run/netns/\(client)", "/usr/bin/env", "NETFAULT_STATE_DIR=\(server.dir)/client"]
                + [netfaultPath, "run", "redis", "--host", "10.77.0.1", "--delay", "200ms", "--direction", "to-server"]
                + ["--scope", "command", "--for", "5m", "--", "sh", "-c"]
                + ["/usr/bin/python3 -c '\(timer)' > \(out); touch \(ready); while [ ! -e \(done) ]; do sleep 0.05; done"]
            let began = monotonicMs()
            let run = try spawn(argv, captureOutput: true)
            #expect(ScopeTests().awaitFile(ready, seconds: 120))
            let ended = monotonicMs()
            let theirs = outsider.after(began, seconds: 10).filter { $0.began < ended && $0.outcome == "ok" }
                .map(\.elapsed).sorted()
            FileManager.default.createFile(atPath: done, contents: nil)
            let r = collect(run)
            #expect(r.status == 0, "\(r.stderr)")
            let inside = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: " ").compactMap {
                Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            trace("scoped --delay 200ms over a veth: command \(inside), outsider \(theirs.map { Int($0) })")
            #expect(inside.count == 10 && (inside.first ?? 0) >= 190, "every round trip of the command's: \(inside)")
            #expect(inside.count == 10 && inside[4] < 300, "the command's median under 1.5 x the delay: \(inside)")
            #expect(theirs.count >= 3 && theirs[theirs.count / 2] < 100, "an outsider's median, meanwhile: \(theirs)")
        }
    }
}
