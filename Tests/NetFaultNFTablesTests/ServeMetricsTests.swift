import Foundation
import TestSupport
import Testing

/// GET /metrics of a real daemon, after a toxic added through toxiproxy-python and real Redis
/// traffic, read by prometheus-client's parser (scripts/serve-client metrics): the proxy's
/// bytes grew, and with the kernel backend the toxic's nf_tables rules matched packets.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ServeMetricsTests {
    /// The proxy backend runs a 20 ms latency; this kernel has no netem, so the kernel backend
    /// runs a hang (timeout 0), whose drop rule the server's responses meet. The kernel
    /// backend's latency (steered into netem) runs where the kernel has netem: see below.
    @Test(
        "GET /metrics after a toxic and Redis traffic: bytes grew, and the kernel's matched packets",
        arguments: [("proxy", "latency"), ("kernel", "timeout")])
    func afterTraffic(backend: String, toxic: String) throws {
        try ServeMetrics.check(backend: backend, toxic: toxic)
    }
}

extension ServeCombinedTests {
    @Test("GET /metrics after a latency toxic of the kernel backend and Redis traffic: the steered packets")
    func metricsOfALatency() throws {
        try ServeMetrics.check(backend: "kernel", toxic: "latency")
    }
}

enum ServeMetrics {
    typealias Sample = (name: String, labels: [String: String], value: Double)

    static func samples(_ step: Step?) -> [Sample] {
        (step?.fields["samples"] as? [[String: Any]] ?? []).map {
            let value = ($0["value"] as? NSNumber)?.doubleValue ?? -1
            return ($0["name"] as? String ?? "", $0["labels"] as? [String: String] ?? [:], value)
        }
    }

    static func value(_ samples: [Sample], _ name: String, _ labels: [String: String]) -> Double? {
        samples.first { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }?.value
    }

    /// A daemon of `backend` in a namespace with redis-server; serve-client adds `toxic`
    /// (downstream), scrapes, sends 10 SET and GET of 4 KB through the proxy, scrapes again.
    static func check(backend: String, toxic: String) throws {
        try withServers(redis: [6379], mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, ["--backend", backend], journal: ns.journal)
            let steps = try ns.serveClient(daemon, "metrics", toxic)
            let after = try #require(steps["metrics/after"]?.fields)
            #expect(after["status"] as? Int == 200, "\(after)")
            #expect(after["content_type"] as? String == "text/plain; version=0.0.4; charset=utf-8", "\(after)")
            let (before, now) = (samples(steps["metrics/before"]), samples(steps["metrics/after"]))
            let proxy = ["proxy": "redis", "listener": "127.0.0.1:26379", "upstream": "127.0.0.1:6379"]
            func bytes(_ s: [Sample], _ kind: String, _ direction: String) -> Double {
                let labels = proxy.merging(["direction": direction]) { a, _ in a }
                return value(s, "toxiproxy_proxy_\(kind)_bytes_total", labels) ?? -1
            }
            // 20 Redis commands with 4 KB values (or, under the hang, the first SET) went through.
            #expect(bytes(now, "received", "upstream") > max(bytes(before, "received", "upstream"), 4096), "\(now)")
            #expect(bytes(now, "sent", "upstream") == bytes(now, "received", "upstream"), "\(now)")
            let toxicLabels = ["proxy": "redis", "type": toxic, "stream": "downstream"]
            let matched = value(now, "netfault_toxic_matched_packets_total", toxicLabels)
            if toxic == "latency" {
                #expect(steps["redis"]?.outcome == "ok", "\(steps["redis"] as Any)")
                #expect(bytes(now, "received", "downstream") > 40_000, "\(now)")
                #expect(bytes(now, "sent", "downstream") == bytes(now, "received", "downstream"), "\(now)")
            } else {
                #expect(steps["redis"]?.outcome == "timeout", "\(steps["redis"] as Any)")
            }
            if backend == "proxy" {
                #expect(matched == nil, "the proxy backend has no kernel counts: \(now)")
            } else {
                #expect(value(before, "netfault_toxic_matched_packets_total", toxicLabels) == 0, "\(before)")
                #expect((matched ?? 0) > 0, "the \(toxic) toxic's rules matched no packet: \(now)")
                let matchedBytes = value(now, "netfault_toxic_matched_bytes_total", toxicLabels) ?? 0
                #expect(matchedBytes > (matched ?? 0) * 40, "at least the headers of each packet: \(now)")
            }
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }
}
