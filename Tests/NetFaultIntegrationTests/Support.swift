import Foundation
import TestSupport
import Testing

/// Kernel tests run where the kernel has netem: inside user-mode Linux (scripts/uml-test sets
/// NETFAULT_KERNEL_TESTS). Elsewhere they are skipped with this reason, never reported passed.
enum Kernel {
    static let env = ProcessInfo.processInfo.environment
    static var enabled: Bool { env["NETFAULT_KERNEL_TESTS"] != nil }
    static let reason: Comment = "needs a kernel with netem and root: run `make kernel` (user-mode Linux)"
    /// Where uml-run linked the UML kernel's modules, to reload one a test removed.
    static var moduleDir: String? { env["NETFAULT_UML_MODDIR"] }
    /// An emulated VM (scripts/vm-run): its timers are coarse and every process start takes a
    /// second or more, so timing is judged in user-mode Linux and only behaviour here.
    static var emulated: Bool { env["NETFAULT_KERNEL_TESTS"] == "vm" }
}

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

let netfaultPath =
    ProcessInfo.processInfo.environment["NETFAULT_BIN"]
    ?? packageRoot.appendingPathComponent(".build/debug/netfault").path

@discardableResult
func netfault(_ args: String...) throws -> Run { try run(netfaultPath, args) }
func netfault(_ args: [String]) throws -> Run { try run(netfaultPath, args) }

/// `tc qdisc show` and `tc filter show` for a device: what "left as before" is compared on.
func tcSnapshot(_ dev: String = "lo") throws -> String {
    let q = try run("tc", ["qdisc", "show", "dev", dev]).stdout
    var f = try run("tc", ["filter", "show", "dev", dev]).stdout
    // Filters under netfault's root only exist while it does; list them too when present.
    f += try run("tc", ["filter", "show", "dev", dev, "parent", "6e66:"]).stdout
    // htb counts packets it passed straight through; a counter is not configuration.
    return (q + "--\n" + f).replacing(/direct_packets_stat \d+/, with: "direct_packets_stat *")
}

/// Polls the snapshot until it equals `expected` or `seconds` pass; returns the last one.
func tcSnapshot(awaiting expected: String, seconds: Double, dev: String = "lo") throws -> String {
    let deadline = monotonicMs() + seconds * 1000
    var now = try tcSnapshot(dev)
    while now != expected && monotonicMs() < deadline {
        usleep(100_000)
        now = try tcSnapshot(dev)
    }
    return now
}

/// A real redis-server on loopback, stopped when the value is released.
final class RedisServer {
    let port: UInt16
    let pid: pid_t
    let dir: String

    init(port: UInt16) throws {
        self.port = port
        dir = "/var/tmp/netfault-redis-\(port)-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        pid = try spawn(
            [
                "/usr/bin/redis-server", "--port", "\(port)", "--bind", "127.0.0.1 127.0.0.2 -::1", "--save", "",
                "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--protected-mode", "no"
            ],
            captureOutput: false
        ).pid
        // Up to a minute: a server's start took over 4 s in the VM on a busy host.
        let start = monotonicMs()
        while monotonicMs() - start < 60_000 {
            if let c = try? RedisClient(port: port), (try? c.ping()) != nil { return }
            usleep(20_000)
        }
        throw TestFailure("redis-server on \(port) did not answer PING in 60 s")
    }

    deinit {
        kill(pid, SIGTERM)
        _ = waitStatus(pid)
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// A minimal Redis client over a blocking TCP socket: enough to time PING round trips.
final class RedisClient: @unchecked Sendable {  // one thread uses each client
    let fd: Int32

    init(port: UInt16, host: String = "127.0.0.1", timeout: TimeInterval = 10) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, 4)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc: Int32
        if v6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &a.sin6_addr)
            rc = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &a.sin_addr)
            rc = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw TestFailure("connect to \(host):\(port): \(String(cString: strerror(e)))")
        }
    }

    deinit { close(fd) }

    /// One PING round trip, in milliseconds.
    func ping() throws -> Double {
        let start = monotonicMs()
        let req = Array("PING\r\n".utf8)
        guard send(fd, req, req.count, 0) == req.count else { throw TestFailure("send failed: \(errno)") }
        var buf = [UInt8](repeating: 0, count: 64)
        var got = 0
        while got < 7 {
            let n = recv(fd, &buf[got], buf.count - got, 0)
            guard n > 0 else { throw TestFailure("no PONG (recv \(n), errno \(errno))") }
            got += n
        }
        guard String(decoding: buf[0..<7], as: UTF8.self) == "+PONG\r\n" else { throw TestFailure("unexpected reply") }
        return monotonicMs() - start
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

/// Median PING round trip over `count` pings on one connection, after a warm-up ping.
func medianPing(port: UInt16, host: String = "127.0.0.1", count: Int = 15) throws -> Double {
    trace("medianPing \(host) \(port)")
    let c = try RedisClient(port: port, host: host)
    _ = try c.ping()
    let m = median(try (0..<count).map { _ in try c.ping() })
    trace("medianPing \(port) = \(m)")
    return m
}

/// A round trip's growth under a netem delay of `ms` on one direction: at least the delay (less
/// 10 ms of measurement) and under 1.5 times it. A busy host stretches user-mode Linux's timers
/// by 15 ms and more, so a tight upper bound fails for load alone; these bounds still tell the
/// delay from none, and from the delay applied twice (both directions, two bands).
func expectDelayed(
    by ms: Double, grown: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        grown >= ms - 10 && grown < ms * 1.5, "\(what) grew by \(grown) ms, not \(ms)", sourceLocation: sourceLocation)
}

/// Traffic a delay of `ms` must not reach: it grew by less than half of it (a busy host adds a
/// few milliseconds; the fault would add all of it).
func expectUntouched(
    by ms: Double, grown: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        grown < ms / 2, "\(what) grew by \(grown) ms under a \(ms) ms fault elsewhere", sourceLocation: sourceLocation)
}

/// Reverts every lease and checks nothing of netfault's is left on lo.
/// The first netem qdisc's counters on `dev` (`tc -s qdisc show`), with the text they came from.
func netemCounters(_ dev: String = "lo") throws -> (sent: Int, dropped: Int, stats: String) {
    let stats = try run("tc", ["-s", "qdisc", "show", "dev", dev]).stdout
    let netem = stats.components(separatedBy: "qdisc netem").dropFirst().first ?? ""
    let sent = Int(netem.firstMatch(of: /Sent \d+ bytes (\d+) pkt/)?.1 ?? "0") ?? 0
    let dropped = Int(netem.firstMatch(of: /dropped (\d+)/)?.1 ?? "0") ?? 0
    return (sent, dropped, stats)
}

func cleanUp() throws {
    _ = try netfault("revert", "--all", "--all-namespaces")
}

/// A command's `--json` output as an object (empty when it printed none).
func jsonObject(_ r: Run) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
}

/// The lease id from `apply --json` output.
func leaseID(_ r: Run) throws -> String {
    guard let id = try jsonObject(r)["lease"] as? String else {
        throw TestFailure("no lease in: \(r.stdout) \(r.stderr)")
    }
    return id
}

/// The leases of `status --json` and the band each one's first netem qdisc sits on.
func statusLeases() throws -> (leases: [[String: Any]], bands: [Int]) {
    let leases = try jsonObject(try netfault("status", "--json"))["leases"] as? [[String: Any]] ?? []
    return (leases, leases.compactMap { (($0["installed"] as? [[String: Any]])?.first?["band"]) as? Int })
}
