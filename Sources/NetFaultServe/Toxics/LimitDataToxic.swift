import NIOCore

/// Toxiproxy's limit_data: the connection closed once `bytes` have passed.
public struct LimitDataToxic: TypedToxic {
    public static let type = ToxicType.limit_data
    /// Up to 2^53 bytes (a JSON number holds it exactly).
    public static var attributes: [ToxicAttribute<Self>] {
        [.count("bytes", \.bytes, unit: "bytes", maximum: 1 << 53)]
    }
    public var bytes: Int64
    public init(bytes: Int64) { self.bytes = bytes }
    public init() { self.init(bytes: 0) }
    public var kind: ToxicKind { .limitData(self) }
}

extension LimitDataToxic: ProxyToxic {
    /// Data passes until `bytes` have (counted across updates, as Toxiproxy's state is), then
    /// the connection closes.
    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        guard case .data(var buffer, let since) = chunk else { return stage.passOn(chunk, pump) }
        let remaining = max(0, bytes - stage.bytesPassed)
        if Int64(buffer.readableBytes) > remaining {
            let kept = buffer.readSlice(length: Int(remaining))!
            stage.drop(.data(buffer, since: since), pump)
            buffer = kept
        }
        if buffer.readableBytes > 0 {
            stage.bytesPassed += Int64(buffer.readableBytes)
            stage.pass(.data(buffer, since: since), pump)
        }
        if bytes - stage.bytesPassed <= 0 { stage.finish(pump) }
    }
}
