import NIOCore
import NetFaultCore

/// Toxiproxy's timeout: data stops; once none came for `timeout` the connection is closed
/// (0: never).
public struct TimeoutToxic: TypedToxic {
    public static let type = ToxicType.timeout
    /// Milliseconds, up to an hour.
    public static var attributes: [ToxicAttribute<Self>] {
        [.time("timeout", \.timeout, in: .milliseconds, maximum: .seconds(3_600))]
    }
    public var timeout: Duration
    public init(timeout: Duration) { self.timeout = timeout }
    public init() { self.init(timeout: .zero) }
    public var kind: ToxicKind { .timeout(self) }
}

extension TimeoutToxic: ProxyToxic {
    /// It swallows what reaches it, so its stream has a hole: removing it closes the
    /// connection, rather than resuming with bytes missing.
    var closesWhenRemoved: Bool { true }

    func start(in stage: ToxicStage, _ pump: StreamPump) { restartClock(of: stage, pump) }

    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        switch chunk {
        case .data:
            stage.drop(chunk, pump)
            restartClock(of: stage, pump)
        case .end:
            stage.stopClock()
            stage.pass(chunk, pump)
        }
    }

    /// Toxiproxy's timeout restarts its timer on every chunk it swallows.
    private func restartClock(of stage: ToxicStage, _ pump: StreamPump) {
        stage.stopClock()
        guard timeout > .zero else { return }
        stage.startClock(after: .nanoseconds(timeout.nanoseconds), pump) { stage, pump in
            stage.finish(pump)
            pump.wake()
        }
    }
}
