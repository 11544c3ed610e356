import NIOPosix
import NetFaultCore
import NetFaultKernel
import Testing
@testable import NetFaultServe

/// GET /metrics: the Prometheus text format's names, labels and escaping, which kernel counters
/// belong to which toxic, and the route's access rules.
@Suite struct MetricsTests {
    /// The sample lines of an exposition, without HELP and TYPE.
    func samples(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init))
    }

    @Test("Toxiproxy's byte counters and netfault's matched counters, with their labels, HELP and TYPE")
    func namesAndLabels() {
        let traffic = TrafficCounts(received: [.upstream: 14, .downstream: 7], sent: [.upstream: 14, .downstream: 5])
        let text = MetricsExposition.text([
            ProxyMetrics(
                name: "redis", listener: "127.0.0.1:26379", upstream: "127.0.0.1:6379", traffic: traffic,
                toxics: [ToxicMatch(toxic: "hang", type: .timeout, stream: .downstream, packets: 3, bytes: 180)])
        ])
        let labels = #"listener="127.0.0.1:26379",proxy="redis",upstream="127.0.0.1:6379""#
        let toxic = #"proxy="redis",toxic="hang",type="timeout",stream="downstream""#
        #expect(
            samples(text) == [
                #"toxiproxy_proxy_received_bytes_total{direction="upstream",\#(labels)} 14"#,
                #"toxiproxy_proxy_received_bytes_total{direction="downstream",\#(labels)} 7"#,
                #"toxiproxy_proxy_sent_bytes_total{direction="upstream",\#(labels)} 14"#,
                #"toxiproxy_proxy_sent_bytes_total{direction="downstream",\#(labels)} 5"#,
                "netfault_toxic_matched_packets_total{\(toxic)} 3",
                "netfault_toxic_matched_bytes_total{\(toxic)} 180",
            ], "\(text)")
        for name in [
            "toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total",
            "netfault_toxic_matched_packets_total", "netfault_toxic_matched_bytes_total",
        ] {
            #expect(text.contains("# TYPE \(name) counter\n"), "\(name): \(text)")
            #expect(text.contains("# HELP \(name) "), "\(name): \(text)")
        }
    }

    @Test("label values escape quotes and backslashes; counts above Int64 clamp instead of trapping")
    func escapingAndHugeCounts() {
        let text = MetricsExposition.text([
            ProxyMetrics(
                name: #"a"b\c"#, listener: "[::1]:1", upstream: "db:3306",
                traffic: TrafficCounts(received: [.upstream: .max]),
                toxics: [ToxicMatch(toxic: #"x"y"#, type: .latency, stream: .upstream, packets: .max)])
        ])
        #expect(text.contains(#"proxy="a\"b\\c""#), "\(text)")
        #expect(text.contains(#"toxic="x\"y""#), "\(text)")
        #expect(text.contains(#"direction="upstream",listener="[::1]:1",proxy="a\"b\\c",upstream="db:3306"} "#
            + "\(Int64.max)\n"), "\(text)")
        #expect(text.contains(#"stream="upstream"} \#(Int64.max)"#), "\(text)")
    }

    @Test("no proxies: an empty exposition")
    func empty() {
        #expect(MetricsExposition.text([]) == "")
    }

    func toxic(_ kind: ToxicKind, _ stream: ToxicStream, _ name: String) -> Toxic {
        Toxic(name: name, stream: stream, kind)
    }

    func rule(_ packets: UInt64, steers: Bool = false) -> KernelMatches.Counted {
        KernelMatches.Counted(InstalledRule(
            chain: "c", handle: packets, comment: nil, packets: packets, bytes: packets * 60, text: "", steers: steers))
    }

    @Test("a toxic counts the rules of the lease its fault lives in: steering for netem, drop and reset for the others")
    func kernelCountsByToxic() {
        let toxics = [
            toxic(.latency(.init(latency: .milliseconds(50))), .downstream, "slow"),
            toxic(.timeout(.init()), .upstream, "hang"),
            toxic(.noop(.init()), .downstream, "nothing"),
            toxic(.resetPeer(.init(timeout: .seconds(60))), .downstream, "later"),
            toxic(.resetPeer(.init(timeout: .milliseconds(500))), .downstream, "now"),
        ]
        // The responses' lease steers into netem (5) and drops (7, a bandwidth 0 toxic, say); the
        // requests' lease drops (11) and resets (13): the timed reset_peers' timers live there.
        let rules: [Direction: [KernelMatches.Counted]] = [
            .fromServer: [rule(5, steers: true), rule(7)], .toServer: [rule(11), rule(13)],
        ]
        let counted = KernelMatches.count(toxics: toxics, counts: rules)
        #expect(counted.map(\.toxic) == ["slow", "hang", "nothing", "later", "now"])
        #expect(counted.map(\.packets) == [5, 24, 0, 24, 24], "\(counted)")
        #expect(counted.map(\.bytes) == [300, 1440, 0, 1440, 1440], "\(counted)")
        #expect(counted[0].type == .latency && counted[0].stream == .downstream)
    }

    @Test("without nf_tables a latency counts its lease's netem packets, and has no bytes series")
    func netemQdiscCounts() {
        let counts: [Direction: [KernelMatches.Counted]] = [.fromServer: [.init(packets: 9, bytes: nil, netem: true)]]
        let counted = KernelMatches.count(
            toxics: [toxic(.latency(.init(latency: .milliseconds(50))), .downstream, "slow")],
            counts: counts)
        #expect(counted == [ToxicMatch(toxic: "slow", type: .latency, stream: .downstream, packets: 9, bytes: nil)])
        let text = MetricsExposition.text([
            ProxyMetrics(name: "p", listener: "l", upstream: "u", traffic: TrafficCounts(), toxics: counted)
        ])
        let series = #"netfault_toxic_matched_packets_total{proxy="p",toxic="slow",type="latency",stream="downstream"}"#
        #expect(text.contains(series + " 9\n"), "\(text)")
        #expect(!text.contains("netfault_toxic_matched_bytes_total"), "\(text)")
    }

    final class Fixture {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry: ProxyRegistry
        let router: ApiRouter
        init(token: String? = nil) {
            registry = ProxyRegistry(backend: ProxyBackend(), group: group, listenPolicy: .loopback)
            router = ApiRouter(registry: registry, token: token)
        }
        deinit {
            registry.shutdown()
            try? group.syncShutdownGracefully()
        }
    }

    @Test("GET /metrics lists every proxy in the text format; other methods 405")
    func route() {
        let f = Fixture()
        let created = f.router.handle(
            method: "POST", uri: "/proxies", body: Array(#"{"name":"p","upstream":"127.0.0.1:9"}"#.utf8))
        #expect(created.status == 201)
        let r = f.router.handle(method: "GET", uri: "/metrics")
        let text = String(decoding: r.body, as: UTF8.self)
        #expect(r.status == 200 && r.contentType == "text/plain; version=0.0.4; charset=utf-8", "\(r)")
        #expect(
            text.contains(#"toxiproxy_proxy_sent_bytes_total{direction="downstream",listener="127.0.0.1:"#), "\(text)")
        #expect(text.contains(#"proxy="p",upstream="127.0.0.1:9"} 0"#), "\(text)")
        #expect(!text.contains("netfault_toxic"), "the proxy backend has no kernel counts: \(text)")
        #expect(f.router.handle(method: "POST", uri: "/metrics").status == 405)
    }

    @Test("/metrics takes the API's access rules: the token, and no browsers")
    func accessRules() {
        let f = Fixture(token: "s3cret")
        func status(_ headers: [(String, String)]) -> Int {
            f.router.handle(method: "GET", uri: "/metrics", headers: headers).status
        }
        #expect(status([]) == 401)
        #expect(status([("Authorization", "Bearer nope")]) == 401)
        #expect(status([("Authorization", "Bearer s3cret")]) == 200)
        #expect(status([("Authorization", "Bearer s3cret"), ("User-Agent", "Mozilla/5.0")]) == 403)
    }
}
