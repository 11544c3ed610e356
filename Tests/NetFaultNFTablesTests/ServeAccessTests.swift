import Foundation
import TestSupport
import Testing

/// Runs a program as nobody (uid and gid 65534, no groups), as an unprivileged local user would.
let asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

extension Namespace {
    /// The TCP ports something listens on inside (ss, as a user would look).
    func listeningPorts() throws -> Set<UInt16> {
        let out = try exec("ss", "-Htln").stdout
        return Set(out.split(separator: "\n").compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first
                .flatMap { $0.split(separator: ":").last }.flatMap { UInt16($0) }
        })
    }
}

/// The daemon's resident memory in kB, from /proc/PID/status.
func residentKB(_ pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
}

/// Holds `count` connections that each send part of a request head and never the rest.
let slowlorisClient = #"""
import resource, socket, sys
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, count = int(sys.argv[1]), int(sys.argv[2])
held, failed = [], 0
for i in range(count):
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", port))
        s.send(b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nX-Slow: ")
        held.append(s)
    except OSError:
        failed += 1
        s.close()
print("held %d failed %d" % (len(held), failed), flush=True)
sys.stdin.read()
"""#

@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ServeAccessTests {
    @Test("as uid 65534 (not allowed): no proxy, toxic, populate or listener; 403 names --allow-user")
    func strangerIsRefused() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            let made = try ns.http(daemon, "POST", "/proxies", #"{"name":"redis","upstream":"127.0.0.1:6379"}"#)
            #expect(made.status == 201, "root is allowed: \(made)")
            let before = try ns.listeningPorts()
            let attempts: [(String, String, String?)] = [
                ("POST", "/proxies", #"{"name":"x","listen":"0.0.0.0:443","upstream":"127.0.0.1:6379"}"#),
                ("POST", "/proxies", #"{"name":"y","listen":"127.0.0.1:0","upstream":"127.0.0.1:6379"}"#),
                ("POST", "/populate", #"[{"name":"z","listen":"127.0.0.1:0","upstream":"127.0.0.1:6379"}]"#),
                ("POST", "/proxies/redis/toxics", #"{"type":"timeout"}"#),
                ("PATCH", "/proxies/redis", #"{"listen":"0.0.0.0:443"}"#),
                ("POST", "/reset", nil),
                ("GET", "/proxies", nil),
                ("GET", "/metrics", nil),  // the proxies' names, addresses and traffic: no bypass
            ]
            for (method, path, body) in attempts {
                let r = try ns.http(daemon, method, path, body, prefix: asNobody)
                #expect(r.status == 403 && r.body.contains("--allow-user") && r.body.contains("uid 65534"),
                    "\(method) \(path) as nobody: \(r)")
            }
            #expect(try ns.listeningPorts() == before, "a listener appeared")
            #expect(try ns.http(daemon, "GET", "/proxies/redis/toxics").body == "[]")
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379).outcome == "ok")
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }

    @Test("--allow-user 65534 lets nobody in; its 1e308 and -1e300 toxics get 400 and the daemon lives on",
        arguments: ["kernel", "proxy"])
    func allowedUserAndTheTrap(backend: String) throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, ["--backend", backend, "--allow-user", "65534"], journal: ns.journal)
            func call(_ method: String, _ path: String, _ body: String? = nil) throws -> (status: Int, body: String) {
                try ns.http(daemon, method, path, body, prefix: asNobody)
            }
            #expect(try call("POST", "/proxies", #"{"name":"redis","upstream":"127.0.0.1:6379"}"#).status == 201)
            #expect(try call("POST", "/proxies/redis/toxics", #"{"name":"l","type":"timeout"}"#).status == 200)
            for value in ["1e308", "-1e300"] {
                let posted = try call("POST", "/proxies/redis/toxics",
                    #"{"type":"latency","attributes":{"latency":\#(value)}}"#)
                #expect(posted.status == 400, "POST \(value): \(posted)")
                let patched = try call("PATCH", "/proxies/redis/toxics/l", #"{"attributes":{"timeout":\#(value)}}"#)
                #expect(patched.status == 400, "PATCH \(value): \(patched)")
            }
            #expect(isRunning(daemon.pid), "the daemon died")
            #expect(try call("GET", "/version").status == 200)
            let listen = try call("POST", "/proxies", #"{"name":"x","listen":"0.0.0.0:0","upstream":"127.0.0.1:6379"}"#)
            #expect(listen.status == 403 && listen.body.contains("--allow-listen 0.0.0.0"), "\(listen)")
            #expect(try call("DELETE", "/proxies/redis").status == 204)
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }

    @Test("a token listener: the token from NETFAULT_TOKEN or --token-file, never argv, never empty")
    func tokenListener() throws {
        try withServers(mariadb: false) { ns in
            let file = "\(ns.dir)/token"
            for (args, words) in [(["--token", "s3cret"], "--token-file"), (["--token-file", file], "empty"),
                ([String](), "--token-file PATH")]
            {
                try "\n".write(toFile: file, atomically: true, encoding: .utf8)
                // timeout: a daemon that wrongly starts fails the test instead of hanging it.
                let r = try ns.exec(
                    ["timeout", "10", netfaultPath, "serve", "--backend", "proxy", "--listen", "0.0.0.0:0"] + args)
                #expect(r.status == 64 && r.stderr.contains(words), "\(args): \(r)")
            }
            let empty = try ns.exec(
                "timeout", "10", "/usr/bin/env", "NETFAULT_TOKEN=", netfaultPath, "serve", "--listen", "0.0.0.0:0")
            #expect(empty.status == 64 && empty.stderr.contains("empty"), "\(empty)")
            try "s3cret\n".write(toFile: file, atomically: true, encoding: .utf8)
            let daemon = try ServeDaemon(ns, ["--backend", "proxy", "--listen", "0.0.0.0:0", "--token-file", file])
            #expect(try ns.http(daemon, "GET", "/version", headers: ["Authorization: Bearer "]).status == 401)
            #expect(try ns.http(daemon, "GET", "/version", headers: ["Authorization: Bearer s3cret"]).status == 200)
            #expect(try ns.http(daemon, "GET", "/metrics").status == 401)
            #expect(try ns.http(daemon, "GET", "/metrics", headers: ["Authorization: Bearer s3cret"]).status == 200)
            // Any user with the token may call: the uid check is loopback's.
            let r = try ns.http(daemon, "POST", "/proxies", #"{"name":"p","upstream":"127.0.0.1:6379"}"#,
                headers: ["Authorization: Bearer s3cret"], prefix: asNobody)
            #expect(r.status == 201, "\(r)")
            #expect(daemon.terminate().status == 0)
        }
    }

    @Test("--socket refuses to replace a file that is not a socket, and leaves it as it was")
    func socketPathThatIsAFile() throws {
        try withServers(mariadb: false) { ns in
            let path = "\(ns.dir)/api.sock"
            try "precious".write(toFile: path, atomically: true, encoding: .utf8)
            let r = try ns.exec("timeout", "10", netfaultPath, "serve", "--backend", "proxy", "--socket", path)
            #expect(r.status == 73 && r.stderr.contains("is not a socket"), "\(r)")
            #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "precious")
        }
    }

    @Test("15,000 half-open requests held: GET /version still answers within 1 s, the daemon stays under 100 MB")
    func slowloris() throws {
        try withServers(mariadb: false) { ns in
            let daemon = try ServeDaemon(ns, ["--backend", "proxy"])
            let before = residentKB(daemon.pid) ?? 0
            let client = HeldConnection(process: try spawn(
                ["ip", "netns", "exec", ns.name, "python3", "-c", slowlorisClient, "\(daemon.port)", "15000"],
                captureOutput: true, stdinPipe: true))
            let held = client.readLine(seconds: 300)
            trace("slowloris: \(held) daemon RSS before \(before) kB")
            #expect(held.hasPrefix("held 15000 "), "\(held)")
            let timed = try ns.exec("curl", "-s", "-o", "/dev/null", "--max-time", "5", "-w", "%{http_code} %{time_total}",
                "http://127.0.0.1:\(daemon.port)/version")
            let fields = timed.stdout.split(separator: " ")
            #expect(fields.first == "200", "GET /version while held: \(timed)")
            #expect((Double(fields.last ?? "") ?? 99) < 1, "GET /version took \(timed.stdout) s")
            let rss = residentKB(daemon.pid) ?? Int.max
            trace("slowloris: /version \(timed.stdout), daemon RSS \(rss) kB")
            #expect(rss < 100 * 1024, "daemon RSS \(rss) kB with the connections held")
            client.finish()
            #expect(daemon.terminate().status == 0)
        }
    }
}
