import NIOCore
import NetFaultCore

/// Toxiproxy's slow_close: the end of the stream held back `delay`; data passes.
public struct SlowCloseToxic: TypedToxic {
    public static let type = ToxicType.slow_close
    /// Milliseconds, up to an hour.
    public static var attributes: [ToxicAttribute<Self>] {
        [.time("delay", \.delay, in: .milliseconds, maximum: .seconds(3_600))]
    }
    public var delay: Duration
    public init(delay: Duration) { self.delay = delay }
    public init() { self.init(delay: .zero) }
    public var kind: ToxicKind { .slowClose(self) }
}

extension SlowCloseToxic: ProxyToxic {
    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        guard case .end = chunk else { return stage.passOn(chunk, pump) }
        stage.hold(chunk)
        stage.wait(until: .now() + .nanoseconds(delay.nanoseconds), pump)
    }
}
