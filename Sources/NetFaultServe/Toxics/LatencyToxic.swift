import NIOCore
import NetFaultCore

/// Toxiproxy's latency: each chunk of data held for latency ± jitter (uniform).
public struct LatencyToxic: TypedToxic {
    public static let type = ToxicType.latency
    /// Milliseconds, up to an hour each.
    public static var attributes: [ToxicAttribute<Self>] {
        [
            .time("latency", \.latency, in: .milliseconds, maximum: .seconds(3_600)),
            .time("jitter", \.jitter, in: .milliseconds, maximum: .seconds(3_600)),
        ]
    }
    public var latency: Duration
    public var jitter: Duration
    public init(latency: Duration, jitter: Duration = .zero) { self.latency = latency; self.jitter = jitter }
    public init() { self.init(latency: .zero) }
    public var kind: ToxicKind { .latency(self) }
}

extension LatencyToxic: ProxyToxic {
    /// The chunk goes on `latency` (give or take `jitter`) after it arrived.
    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        guard case .data(let buffer, let since) = chunk else { return stage.passOn(chunk, pump) }
        var delay = latency.nanoseconds
        if jitter > .zero { delay += Int64.random(in: -jitter.nanoseconds..<jitter.nanoseconds) }
        let due = since + .nanoseconds(delay)
        if due <= .now() {
            stage.pass(chunk, pump)
        } else {
            stage.hold(.data(buffer, since: due))
            stage.wait(until: due, pump)
        }
    }
}
