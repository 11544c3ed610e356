import NIOConcurrencyHelpers

/// Bytes a proxy's pumps read and wrote, by stream: what Toxiproxy's
/// `toxiproxy_proxy_received_bytes_total` and `toxiproxy_proxy_sent_bytes_total` count.
public struct TrafficCounts: Sendable, Equatable {
    /// Read from the stream's source: the client for upstream, the server for downstream.
    public var received: [ToxicStream: UInt64] = [:]
    /// Written to the stream's destination, after the toxics.
    public var sent: [ToxicStream: UInt64] = [:]
    public init(received: [ToxicStream: UInt64] = [:], sent: [ToxicStream: UInt64] = [:]) {
        self.received = received; self.sent = sent
    }
}

/// A proxy's running byte counts, shared by its connections' pumps on every event loop.
/// Counts wrap rather than trap (2^64 bytes is out of reach anyway).
public final class TrafficTally: Sendable {
    private let counts = NIOLockedValueBox(TrafficCounts())

    public init() {}

    func received(_ bytes: Int, on stream: ToxicStream) {
        counts.withLockedValue { $0.received[stream, default: 0] &+= UInt64(clamping: bytes) }
    }

    func sent(_ bytes: Int, on stream: ToxicStream) {
        counts.withLockedValue { $0.sent[stream, default: 0] &+= UInt64(clamping: bytes) }
    }

    public var snapshot: TrafficCounts { counts.withLockedValue { $0 } }
}
