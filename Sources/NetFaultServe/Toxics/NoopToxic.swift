/// Toxiproxy's noop: nothing. Its docs and clients use it to test a toxic's life cycle.
public struct NoopToxic: TypedToxic {
    public static let type = ToxicType.noop
    public static var attributes: [ToxicAttribute<Self>] { [] }
    public init() {}
    public var kind: ToxicKind { .noop(self) }
}

extension NoopToxic: ProxyToxic {
    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        stage.passOn(chunk, pump)
    }
}
