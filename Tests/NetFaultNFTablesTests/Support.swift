import Foundation
import TestSupport
import Testing

/// The nf_tables tests run on this host's kernel, as root, each in a fresh network namespace:
/// scripts/netns-test sets NETFAULT_NFT_TESTS. Elsewhere they are skipped with this reason.
enum NFT {
    static let env = ProcessInfo.processInfo.environment
    static var enabled: Bool { env["NETFAULT_NFT_TESTS"] != nil && getuid() == 0 }
    static let reason: Comment =
        "needs root and a kernel with nf_tables: run scripts/netns-test (sets NETFAULT_NFT_TESTS)"
    /// The kernel has netem too: Debian's own kernel in a VM (scripts/vm-test sets NETFAULT_NETEM).
    static var netem: Bool { enabled && env["NETFAULT_NETEM"] != nil }
    static let netemReason: Comment =
        "needs a kernel with netem AND nf_tables: run scripts/vm-test (Debian's kernel in a VM)"
}

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let netfaultPath = NFT.env["NETFAULT_BIN"] ?? packageRoot.appendingPathComponent(".build/debug/netfault").path
let probePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("scripts/probe-client").path
/// Debian's python3 has python3-pymysql and python3-redis; a `python3` earlier on PATH may not.
let python = "/usr/bin/python3"

/// A command's `--json` output (the last line that is a JSON object) as an object.
func jsonObject(_ text: String) -> [String: Any] {
    for line in text.split(separator: "\n").reversed() where line.hasPrefix("{") {
        if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return o }
    }
    // Pretty-printed output spans lines: try the whole text.
    return (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
}

func jsonObject(_ r: Run) -> [String: Any] { jsonObject(r.stdout) }

/// The lease id from `apply --json` output.
func leaseID(_ r: Run) throws -> String {
    guard let id = jsonObject(r)["lease"] as? String else { throw TestFailure("no lease in: \(r.stdout) \(r.stderr)") }
    return id
}

/// What one probe.py scenario observed.
struct Probe: CustomStringConvertible {
    let fields: [String: Any]
    let raw: String
    var outcome: String { fields["outcome"] as? String ?? "none" }
    var errno: Int? { fields["errno"] as? Int }
    var connected: Bool { fields["connected"] as? Bool ?? false }
    var elapsedMs: Double { fields["elapsed_ms"] as? Double ?? .nan }
    var description: String { raw }
}

/// A MariaDB datadir made once per test run (mariadb-install-db takes about a second); each
/// test copies it. Removed when the test process exits. Its temporary files go beside it:
/// MariaDB's default, /tmp, is the host's over 9p in the VM, where creating one failed once
/// with ENOENT.
let mariadbTemplate: Result<String, TestFailure> = {
    let dir = "/var/tmp/netfault-nft-mariadb-\(getpid())"
    let data = dir + "/template"
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try run(
            "mariadb-install-db",
            [
                "--no-defaults", "--auth-root-authentication-method=normal",
                "--datadir=\(data)", "--tmpdir=\(dir)", "--user=root", "--skip-test-db",
                "--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"
            ])
        guard r.status == 0 else {
            return .failure(TestFailure("mariadb-install-db: \(r.status) \(r.stderr.suffix(800))"))
        }
    } catch {
        return .failure(TestFailure("mariadb-install-db: \(error)"))
    }
    atexit { _ = try? FileManager.default.removeItem(atPath: "/var/tmp/netfault-nft-mariadb-\(getpid())") }
    return .success(data)
}()

/// The suite keeps its leases in a journal of its own (NETFAULT_STATE_DIR, inherited by netfault
/// and its watchdogs), so a test's `revert --all` never reaches a developer's real leases.
let stateDir: String = {
    let dir = "/var/tmp/netfault-nft-tests-state-\(getpid())"
    setenv("NETFAULT_STATE_DIR", dir, 1)
    atexit { _ = try? FileManager.default.removeItem(atPath: "/var/tmp/netfault-nft-tests-state-\(getpid())") }
    return dir
}()

/// A fresh network namespace with lo up, the servers started in it, and the leases applied
/// through it. `withNamespace` tears everything down whatever the test does.
final class Namespace {
    let name: String
    let dir: String
    private(set) var servers: [(name: String, pid: pid_t)] = []
    private(set) var leases: [String] = []
    /// The ruleset before the test applied anything (set by withServers).
    var baseline = ""
    /// A journal of this namespace's own (see `ownJournal`); nil: the suite's.
    private(set) var journal: String?

    /// Every command sweeps its whole journal and the other suites run in parallel: a lease
    /// whose watchdog a test killed or stopped, kept in the shared journal, may be swept by
    /// another suite's command, which would report it instead of this test's.
    func ownJournal() { journal = "\(dir)/journal" }

    /// netfault `args` as is, with this namespace's journal when it has one.
    func invoke(_ args: [String]) throws -> Run {
        guard let journal else { return try run(netfaultPath, args) }
        return try run("/usr/bin/env", ["NETFAULT_STATE_DIR=\(journal)", netfaultPath] + args)
    }

    init() throws {
        _ = stateDir
        name = "nft-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        dir = "/var/tmp/netfault-\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let add = try run("ip", ["netns", "add", name])
        guard add.status == 0 else { throw TestFailure("ip netns add \(name): \(add.stderr)") }
        let up = try run("ip", ["-n", name, "link", "set", "lo", "up"])
        guard up.status == 0 else { throw TestFailure("lo up in \(name): \(up.stderr)") }
        trace("namespace \(name)")
    }

    /// Reverts what is still leased, stops the servers, ends anything else left inside, deletes the namespace.
    func tearDown() {
        if !leases.isEmpty { _ = try? invoke(["revert"] + leases + ["--netns", name]) }
        for s in servers.reversed() { stop(s.pid) }
        if let pids = try? run("ip", ["netns", "pids", name]).stdout.split(separator: "\n").compactMap({ pid_t($0) }) {
            for pid in pids { kill(pid, SIGKILL) }
        }
        _ = try? run("ip", ["netns", "del", name])
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// netfault run inside the namespace (`ip netns exec`) with a journal of the namespace's
    /// own: its leases record no --netns, so in the suite's shared journal they would pass for
    /// leases made inside every other test's namespace, and conflict with them.
    func execNetfault(_ args: [String], env: [String] = []) throws -> Run {
        try exec(["/usr/bin/env", "NETFAULT_STATE_DIR=\(dir)/inside"] + env + [netfaultPath] + args)
    }

    /// A command inside the namespace.
    @discardableResult
    func exec(_ argv: String...) throws -> Run { try exec(argv) }

    @discardableResult
    func exec(_ argv: [String]) throws -> Run { try run("ip", ["netns", "exec", name] + argv) }

    /// netfault with `--netns NAME` appended; `apply` leases are remembered for teardown.
    @discardableResult
    func netfault(_ args: String...) throws -> Run {
        let r = try invoke(args + ["--netns", name])
        if args.first == "apply", r.status == 0, let id = try? leaseID(r) { leases.append(id) }
        return r
    }

    /// `netfault apply ... --json`, required to succeed; returns the lease id and the output.
    func apply(_ args: String...) throws -> (id: String, output: [String: Any]) { try apply(args) }

    func apply(_ args: [String]) throws -> (id: String, output: [String: Any]) {
        let r = try invoke(["apply"] + args + ["--json", "--netns", name])
        guard r.status == 0 else {
            throw TestFailure("netfault apply \(args.joined(separator: " ")): exit \(r.status): \(r.stderr)")
        }
        let id = try leaseID(r)
        leases.append(id)
        return (id, jsonObject(r))
    }

    /// Every lease `status --json` lists (the suite's own journal).
    func statusLeases() throws -> [[String: Any]] {
        jsonObject(try netfault("status", "--json"))["leases"] as? [[String: Any]] ?? []
    }

    /// A lease the test removed by other means (a sweep): no revert at teardown.
    func forget(_ id: String) { leases.removeAll { $0 == id } }

    func revert(_ ids: String...) throws -> Run {
        let r = try invoke(["revert"] + ids + ["--netns", name])
        if r.status == 0 { leases.removeAll { ids.contains($0) } }
        return r
    }

    /// `nft list ruleset` inside: what "left as before" is compared on.
    func ruleset() throws -> String { try exec("nft", "list", "ruleset").stdout }

    /// The ruleset is what it was before the test's first apply.
    func expectBaseline(sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try ruleset() == baseline, "the ruleset differs from before the faults", sourceLocation: sourceLocation)
    }

    /// `tc qdisc show dev lo` and its filters inside: "as before" for traffic control.
    func tcState() throws -> String {
        try exec("tc", "qdisc", "show", "dev", "lo").stdout + "--\n" + exec("tc", "filter", "show", "dev", "lo").stdout
    }

    func tables() throws -> String { try exec("nft", "list", "tables").stdout }

    /// Polls `nft list tables` until `table` is gone or `seconds` pass; true when gone.
    func awaitTableGone(_ table: String, seconds: Double) throws -> Bool {
        let deadline = monotonicMs() + seconds * 1000
        repeat {
            if !(try tables()).contains(table) { return true }
            usleep(20_000)
        } while monotonicMs() < deadline
        return false
    }

    /// Waits until something listens on `port` inside, failing early when `pid` exits.
    private func awaitListening(_ port: UInt16, pid: pid_t, what: String, log: String, seconds: Double = 30) throws {
        let deadline = monotonicMs() + seconds * 1000
        while monotonicMs() < deadline {
            if try exec("ss", "-Hltn", "sport = :\(port)").stdout.contains("LISTEN") { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                servers.removeAll { $0.pid == pid }
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw TestFailure("\(what) exited before listening on \(port): \(text.suffix(1500))")
            }
            usleep(20_000)
        }
        throw TestFailure("\(what) did not listen on \(port) within \(seconds)s")
    }

    /// A real redis-server inside, on the given addresses.
    func startRedis(port: UInt16, bind: String = "127.0.0.1 127.0.0.2 -::1") throws {
        let log = "\(dir)/redis-\(port).log"
        let pid = try spawn(
            [
                "ip", "netns", "exec", name, "/usr/bin/redis-server", "--port", "\(port)", "--bind", bind,
                "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
                "--protected-mode", "no", "--logfile", ""
            ], captureOutput: false, logFile: log
        ).pid
        servers.append(("redis-\(port)", pid))
        try awaitListening(port, pid: pid, what: "redis-server", log: log)
        try awaitAnswer("redis-server", ["redis-cli", "-h", firstAddress(bind), "-p", "\(port)", "ping"])
    }

    /// The first of a server's bind addresses, to send it a request.
    func firstAddress(_ bind: String) -> String {
        String(bind.split(whereSeparator: { $0 == " " || $0 == "," }).first ?? "127.0.0.1")
    }

    /// Waits (up to 60s) for one request to succeed: a server that listens may still take seconds
    /// over its first request when the machine is busy or its files are not cached, and a
    /// test's baseline, judged with a client's short timeouts, must meet a warm server.
    func awaitAnswer(_ what: String, _ argv: [String]) throws {
        let start = monotonicMs()
        var last = ""
        while monotonicMs() - start < 60_000 {
            let r = try exec(argv)
            if r.status == 0 { return }
            last = r.stdout + r.stderr
            usleep(200_000)
        }
        throw TestFailure("\(what) listened but did not answer in 60s: \(last)")
    }

    /// A real MariaDB server inside, from a copy of the run's template datadir.
    func startMariaDB(port: UInt16 = 3306, bind: String = "127.0.0.1,127.0.0.2,::1") throws {
        let template = try mariadbTemplate.get()
        let data = "\(dir)/mariadb-\(port)"
        let cp = try run("cp", ["-a", template, data])
        guard cp.status == 0 else { throw TestFailure("cp datadir: \(cp.stderr)") }
        let log = "\(dir)/mariadb-\(port).log"
        let start = monotonicMs()
        let pid = try spawn(
            [
                "ip", "netns", "exec", name, "/usr/sbin/mariadbd", "--no-defaults", "--datadir=\(data)",
                "--tmpdir=\(dir)", "--socket=\(dir)/mariadb-\(port).sock", "--port=\(port)", "--bind-address=\(bind)",
                "--skip-grant-tables", "--user=root", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=4M", "--pid-file=\(dir)/mariadb-\(port).pid",
                "--log-error=\(log)"
            ], captureOutput: false, logFile: log
        ).pid
        servers.append(("mariadb-\(port)", pid))
        try awaitListening(port, pid: pid, what: "mariadbd", log: log)
        try awaitAnswer(
            "mariadbd",
            [
                "mariadb", "--no-defaults", "-h", firstAddress(bind), "-P", "\(port)", "-u", "root",
                "--connect-timeout=30", "-e", "SELECT 1"
            ])
        trace("mariadbd listening after \(Int(monotonicMs() - start)) ms")
    }

    /// One probe.py scenario inside the namespace.
    func probe(_ scenario: String, _ host: String, _ port: UInt16, timeout: Double = 1.5) throws -> Probe {
        let r = try exec(python, probePath, scenario, host, "\(port)", "--timeout", "\(timeout)")
        let fields = jsonObject(r)
        guard r.status == 0, fields["outcome"] != nil else {
            throw TestFailure("probe \(scenario) \(host) \(port): exit \(r.status): \(r.stdout) \(r.stderr)")
        }
        trace("probe: \(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        return Probe(fields: fields, raw: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Probes until `outcome` or `seconds` pass; the outcome seen and when (ms since `start`).
    func awaitOutcome(_ scenario: String, _ port: UInt16, _ outcome: String, seconds: Double, start: Double) throws
        -> (outcome: String, ms: Double)
    {
        var last = ""
        while monotonicMs() - start < seconds * 1000 {
            last = try probe(scenario, "127.0.0.1", port, timeout: 0.3).outcome
            if last == outcome { return (last, monotonicMs() - start) }
        }
        return (last, monotonicMs() - start)
    }

    /// A client library connection held open (probe.py hold-redis / hold-mysql), its first command done.
    func hold(_ kind: String, _ host: String, _ port: UInt16, timeout: Double = 2) throws -> HeldConnection {
        let p = try spawn(
            [
                "ip", "netns", "exec", name, python, probePath, "hold-\(kind)", host, "\(port)",
                "--timeout", "\(timeout)"
            ], captureOutput: true, stdinPipe: true)
        let held = HeldConnection(process: p)
        // A Python start (its imports) took over 15s in the VM on a busy host: allow a minute.
        let ready = held.readLine(seconds: 60)
        guard (jsonObject(ready)["ready"] as? Bool) == true else {
            let rest = held.finish()
            throw TestFailure("hold-\(kind) \(host) \(port) not ready: \(ready) \(rest)")
        }
        return held
    }
}

/// A probe.py hold-* process: it did one command and waits for a line on stdin to do the next.
final class HeldConnection {
    let process: Spawned
    private var buffer = [UInt8]()
    private var finished = false
    /// The exit status, once `finish` has reaped the process.
    private(set) var exitStatus: Int32?

    init(process: Spawned) { self.process = process }

    /// One line of stdout, or what arrived when `seconds` passed or the pipe closed.
    func readLine(seconds: Double) -> String {
        let deadline = monotonicMs() + seconds * 1000
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !buffer.contains(UInt8(ascii: "\n")) {
            let left = Int32(max(0, deadline - monotonicMs()))
            var fd = pollfd(fd: process.stdout, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&fd, 1, left) > 0 else { break }
            let n = read(process.stdout, &chunk, chunk.count)
            if n <= 0 { break }
            buffer += chunk[0..<n]
        }
        let end = buffer.firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? buffer.count
        let line = String(decoding: buffer[0..<end], as: UTF8.self)
        buffer.removeFirst(end)
        return line
    }

    /// Lets the client do its next command; returns what it observed.
    func next() throws -> Probe {
        let nl: [UInt8] = [10]
        _ = write(process.stdin, nl, 1)
        let line = readLine(seconds: 20)
        let rest = finish()
        let fields = jsonObject(line)
        guard fields["outcome"] != nil else { throw TestFailure("held connection gave no result: \(line) \(rest)") }
        trace("held: \(line.trimmingCharacters(in: .whitespacesAndNewlines))")
        return Probe(fields: fields, raw: line.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Closes stdin and reaps the process; returns its remaining output.
    @discardableResult
    func finish() -> String {
        guard !finished else { return "" }
        finished = true
        close(process.stdin)
        let r = collect(process)
        exitStatus = r.status
        return String(decoding: buffer, as: UTF8.self) + r.stdout + r.stderr
    }

    deinit { finish() }
}

/// Runs `body` with a fresh namespace and tears it down afterwards, whatever happens.
func withNamespace(_ body: (Namespace) throws -> Void) throws {
    let ns = try Namespace()
    defer { ns.tearDown() }
    try body(ns)
}

/// A fresh namespace with redis-servers on `redis` and, unless told otherwise, mariadbd on
/// 3306. When the test ends, every lease it applied must be reverted and the ruleset as before.
func withServers(redis: [UInt16] = [6379], mariadb: Bool = true, _ body: (Namespace) throws -> Void) throws {
    try withNamespace { ns in
        for port in redis { try ns.startRedis(port: port) }
        if mariadb { try ns.startMariaDB() }
        ns.baseline = try ns.ruleset()
        try body(ns)
        #expect(ns.leases.isEmpty, "leases the test did not revert: \(ns.leases)")
        try ns.expectBaseline()
    }
}

/// `iptables-save` / `iptables-legacy-save` without the comment lines (dates) and with chain
/// counters masked: a counter is traffic, not configuration.
func iptablesSnapshot(_ ns: Namespace) throws -> String {
    var text = ""
    for tool in ["iptables-save", "iptables-legacy-save", "ip6tables-save"] {
        let r = try ns.exec(tool)
        text += "== \(tool) (\(r.status))\n"
        text += r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("#") }
            .map { $0.replacing(/\[\d+:\d+\]/, with: "[*:*]") }
            .joined(separator: "\n")
    }
    return text
}

/// Alive and not a zombie: a killed process may take a while to die (a watchdog's exit closes
/// its netfilter socket, which waits for an RCU grace period) and then to be reaped.
func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// Waits up to `seconds` for `pid` to stop running; whether it did.
func awaitExit(_ pid: pid_t, seconds: Double = 2) -> Bool {
    let end = monotonicMs() + seconds * 1000
    while isRunning(pid) {
        if monotonicMs() > end { return false }
        usleep(5_000)
    }
    return true
}

/// A server's namespace and a client on another host, joined by a veth pair. `body` gets the
/// server's namespace (redis on 10.77.0.1:6379 and loopback), the client's namespace name and
/// the server's end of the veth pair.
func withTwoHosts(_ body: (Namespace, String, String) throws -> Void) throws {
    try withNamespace { server in
        let client = "nfc-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try #require(try run("ip", ["netns", "add", client]).status == 0)
        defer { _ = try? run("ip", ["netns", "del", client]) }
        let veth = "nfv" + String(UInt16.random(in: 0...UInt16.max), radix: 16)
        for cmd in [
            ["link", "add", veth, "netns", server.name, "type", "veth", "peer", "name", "eth0", "netns", client],
            ["-n", server.name, "addr", "add", "10.77.0.1/24", "dev", veth],
            ["-n", server.name, "link", "set", veth, "up"],
            ["-n", client, "addr", "add", "10.77.0.2/24", "dev", "eth0"],
            ["-n", client, "link", "set", "eth0", "up"],
            ["-n", client, "link", "set", "lo", "up"]
        ] {
            let r = try run("ip", cmd)
            try #require(r.status == 0, "ip \(cmd.joined(separator: " ")): \(r.stderr)")
        }
        try server.startRedis(port: 6379, bind: "127.0.0.1 10.77.0.1")
        server.baseline = try server.ruleset()
        try body(server, client, veth)
        try server.expectBaseline()
    }
}

/// A probe from the client host of `withTwoHosts` to its server, 10.77.0.1:6379.
func probe(fromHost client: String, _ scenario: String, timeout: Double = 1.5) throws -> Probe {
    let r = try run(
        "ip", ["netns", "exec", client, python, probePath, scenario, "10.77.0.1", "6379", "--timeout", "\(timeout)"])
    return Probe(fields: jsonObject(r.stdout), raw: r.stdout + r.stderr)
}
