import NIOCore
import NetFaultCore

/// Toxiproxy's reset_peer: once data (or the end) reaches it, `timeout` later the connection is
/// reset (RST); 0: at once.
public struct ResetPeerToxic: TypedToxic {
    public static let type = ToxicType.reset_peer
    /// Milliseconds, up to an hour.
    public static var attributes: [ToxicAttribute<Self>] {
        [.time("timeout", \.timeout, in: .milliseconds, maximum: .seconds(3_600))]
    }
    public var timeout: Duration
    public init(timeout: Duration) { self.timeout = timeout }
    public init() { self.init(timeout: .zero) }
    public var kind: ToxicKind { .resetPeer(self) }
}

extension ResetPeerToxic: ProxyToxic {
    /// Resetting: the stage holds everything.
    func stalls(_ stage: ToxicStage) -> Bool { stage.resetting }

    /// Toxiproxy's reset_peer swallows what reaches it, waits, then resets both sockets.
    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        stage.drop(chunk, pump)
        stage.resetting = true
        guard timeout > .zero else { return pump.resetConnection() }
        stage.startClock(after: .nanoseconds(timeout.nanoseconds), pump) { _, pump in pump.resetConnection() }
    }
}
