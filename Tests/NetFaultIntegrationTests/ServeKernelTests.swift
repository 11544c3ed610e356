import Foundation
import TestSupport
import Testing

/// `netfault serve --backend kernel` where netem exists (user-mode Linux, no nf_tables): each
/// toxic a lease whose watchdog this daemon controls. Driven by toxiproxy-python, unmodified,
/// and judged by redis-py round trips.
@Suite(.serialized, .enabled(if: Kernel.enabled && !Kernel.emulated, Kernel.reason))
struct ServeKernelTests {
    static let python = "/opt/netfault/toxiproxy/bin/python"
    static let client = packageRoot.appendingPathComponent("scripts/serve-client").path

    /// The daemon on a port it picks; the first line it prints names the port.
    final class Daemon {
        let process: Spawned
        var port: UInt16 = 0
        var banner = ""
        init() throws {
            process = try spawn([netfaultPath, "serve", "--listen", "127.0.0.1:0"], captureOutput: true)
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 512)
            let deadline = monotonicMs() + 30_000
            while !bytes.contains(10) && monotonicMs() < deadline {
                var fd = pollfd(fd: process.stdout, events: Int16(POLLIN), revents: 0)
                guard poll(&fd, 1, 1000) >= 0 else { break }
                let n = fd.revents != 0 ? read(process.stdout, &chunk, chunk.count) : 0
                if n < 0 || (n == 0 && fd.revents != 0) { break }
                bytes += chunk[0..<max(0, n)]
            }
            banner = String(decoding: bytes, as: UTF8.self)
            guard let r = banner.range(of: "http://127.0.0.1:"),
                let p = UInt16(banner[r.upperBound...].prefix(while: \.isNumber))
            else {
                kill(process.pid, SIGKILL)
                let rest = collect(process)
                throw TestFailure("netfault serve did not start: \(banner) \(rest.stdout) \(rest.stderr)")
            }
            port = p
        }
        func terminate() -> Run {
            kill(process.pid, SIGTERM)
            return collect(process)
        }
    }

    func steps(_ r: Run) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for line in r.stdout.split(separator: "\n") {
            if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let step = o["step"] as? String
            {
                out[step] = o
            }
        }
        return out
    }

    @Test("a latency toxic of 100 ms adds 100 ms to redis round trips (not less, not twice), direct and via the proxy")
    func latencyAdded() throws {
        let before = try tcSnapshot()
        let redis = try RedisServer(port: 6379)
        let daemon = try Daemon()
        #expect(daemon.banner.contains("enforced by watchdog"), "\(daemon.banner)")
        let r = try run(Self.python, [Self.client, "\(daemon.port)", "latency", "100"])
        trace("serve-client: \(r.stdout) \(r.stderr)")
        #expect(r.status == 0, "\(r.stderr)")
        let s = steps(r)
        for path in ["direct_ms", "proxy_ms"] {
            let base = try #require(s["before"]?[path] as? Double, "\(r.stdout)")
            let faulted = try #require(s["latency"]?[path] as? Double)
            let after = try #require(s["removed"]?[path] as? Double)
            expectDelayed(by: 100, grown: faulted - base, "\(path) under a 100 ms latency toxic")
            expectUntouched(by: 100, grown: after - base, "\(path) after the toxic was removed")
        }
        let end = daemon.terminate()
        #expect(end.status == 0, "serve: \(end.stderr)")
        withExtendedLifetime(redis) {}
        #expect(try tcSnapshot(awaiting: before, seconds: 3) == before)
    }

    @Test("GET /metrics after a latency toxic and Redis traffic: the packets of its lease's netem qdisc, no bytes")
    func metricsOfALatency() throws {
        let before = try tcSnapshot()
        let redis = try RedisServer(port: 6379)
        let daemon = try Daemon()
        let r = try run(Self.python, [Self.client, "\(daemon.port)", "metrics", "latency"])
        trace("serve-client: \(r.stdout) \(r.stderr)")
        #expect(r.status == 0, "\(r.stderr)")
        let s = steps(r)
        #expect(s["redis"]?["outcome"] as? String == "ok", "\(r.stdout)")
        func matched(_ step: String) -> [Double] {
            (s[step]?["samples"] as? [[String: Any]] ?? []).filter {
                ($0["name"] as? String)?.hasPrefix("netfault_toxic_matched_") == true
                    && ($0["labels"] as? [String: String])?["toxic"] == "slow"
            }.compactMap {
                ($0["name"] as? String) == "netfault_toxic_matched_packets_total" ? $0["value"] as? Double : -1
            }
        }
        #expect(matched("metrics/before") == [0], "\(r.stdout)")
        let after = matched("metrics/after")
        #expect(after.count == 1 && after[0] >= 20, "a packets series of the 20 commands' responses: \(r.stdout)")
        let end = daemon.terminate()
        #expect(end.status == 0, "serve: \(end.stderr)")
        withExtendedLifetime(redis) {}
        #expect(try tcSnapshot(awaiting: before, seconds: 3) == before)
    }

    @Test("a SIGKILLed daemon's toxics are reverted by their watchdogs within a second")
    func killedDaemon() throws {
        let before = try tcSnapshot()
        let redis = try RedisServer(port: 6379)
        let daemon = try Daemon()
        let add = try run(
            "curl", ["-s", "-XPOST", "http://127.0.0.1:\(daemon.port)/proxies", "-d",
                     #"{"name":"redis","upstream":"127.0.0.1:6379"}"#])
        #expect(add.status == 0)
        let toxic = try run(
            "curl", ["-s", "-w", "%{http_code}", "-XPOST", "http://127.0.0.1:\(daemon.port)/proxies/redis/toxics", "-d",
                     #"{"type":"latency","attributes":{"latency":50}}"#])
        #expect(toxic.stdout.hasSuffix("200"), "\(toxic.stdout)")
        #expect(try tcSnapshot() != before, "the latency toxic installed nothing")
        kill(daemon.process.pid, SIGKILL)
        _ = collect(daemon.process)
        #expect(try tcSnapshot(awaiting: before, seconds: 3) == before, "the toxic outlived its daemon")
        withExtendedLifetime(redis) {}
    }
}
