import Prometheus

/// One proxy at scrape time: Toxiproxy's labels and byte counts, and what the kernel matched
/// for each of its toxics (kernel backend).
public struct ProxyMetrics: Sendable, Equatable {
    public var name: String
    public var listener: String
    public var upstream: String
    public var traffic: TrafficCounts
    public var toxics: [ToxicMatch]
    public init(name: String, listener: String, upstream: String, traffic: TrafficCounts, toxics: [ToxicMatch] = []) {
        self.name = name; self.listener = listener; self.upstream = upstream; self.traffic = traffic
        self.toxics = toxics
    }
}

/// The packets and bytes the kernel matched for one toxic: the counters of the rules of its
/// lease that carry its fault (steering into netem, or drop and reset), or of its netem qdiscs.
public struct ToxicMatch: Sendable, Equatable {
    public var toxic: String
    public var type: ToxicType
    public var stream: ToxicStream
    public var packets: UInt64 = 0
    /// nil where the kernel's counter has no bytes (netem qdiscs, without nf_tables).
    public var bytes: UInt64?
    public init(toxic: String, type: ToxicType, stream: ToxicStream, packets: UInt64 = 0, bytes: UInt64? = nil) {
        self.toxic = toxic; self.type = type; self.stream = stream; self.packets = packets; self.bytes = bytes
    }
}

/// GET /metrics in the Prometheus text format, through swift-prometheus: a registry filled
/// from the counts at each scrape, so proxies and toxics that are gone leave no series behind.
public enum MetricsExposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Toxiproxy's names (its -proxy-metrics), so its dashboards work unchanged; then netfault's.
    static let received = "toxiproxy_proxy_received_bytes_total"
    static let sent = "toxiproxy_proxy_sent_bytes_total"
    static let matchedPackets = "netfault_toxic_matched_packets_total"
    static let matchedBytes = "netfault_toxic_matched_bytes_total"

    /// A counter's descriptor: the whole name as the metric's, "total" its unit (the name ends
    /// in it), so the emitted name is exactly `name`.
    static func counter(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: String(name.dropLast("_total".count)), unitName: "total", helpText: help)
    }

    public static func text(_ proxies: [ProxyMetrics]) -> String {
        let registry = PrometheusCollectorRegistry()
        let receivedBytes = counter(
            received, help: "Bytes the proxy read from the stream's source (the client for upstream)")
        let sentBytes = counter(sent, help: "Bytes the proxy wrote to the stream's destination, after its toxics")
        let packets = counter(
            matchedPackets,
            help: "Packets the kernel matched with the rules (or netem qdiscs) that carry the toxic's fault")
        let bytes = counter(
            matchedBytes, help: "Bytes of the packets the kernel matched with the toxic's nf_tables rules")
        for p in proxies.sorted(by: { $0.name < $1.name }) {
            for stream in ToxicStream.allCases {
                let labels = [
                    ("direction", stream.rawValue), ("listener", p.listener), ("proxy", p.name),
                    ("upstream", p.upstream),
                ]
                registry.makeCounter(descriptor: receivedBytes, labels: labels)
                    .increment(by: Int64(clamping: p.traffic.received[stream] ?? 0))
                registry.makeCounter(descriptor: sentBytes, labels: labels)
                    .increment(by: Int64(clamping: p.traffic.sent[stream] ?? 0))
            }
            for t in p.toxics {
                let labels = [
                    ("proxy", p.name), ("toxic", t.toxic), ("type", t.type.rawValue), ("stream", t.stream.rawValue),
                ]
                registry.makeCounter(descriptor: packets, labels: labels).increment(by: Int64(clamping: t.packets))
                guard let matched = t.bytes else { continue }
                registry.makeCounter(descriptor: bytes, labels: labels).increment(by: Int64(clamping: matched))
            }
        }
        return registry.emitToString()
    }
}
