import NIOCore

/// Toxiproxy's bandwidth: at most `rate` KB (1000 bytes) per second, per connection; at rate 0
/// no data passes.
public struct BandwidthToxic: TypedToxic {
    public static let type = ToxicType.bandwidth
    /// Up to 1 TB/s.
    public static var attributes: [ToxicAttribute<Self>] {
        [.count("rate", \.rate, unit: "KB/s", maximum: 1_000_000_000)]
    }
    public var rate: Int64
    public init(rate: Int64) { self.rate = rate }
    public init() { self.init(rate: 0) }
    public var kind: ToxicKind { .bandwidth(self) }
}

extension BandwidthToxic: ProxyToxic {
    /// Toxiproxy never sends at rate 0.
    func stalls(_ stage: ToxicStage) -> Bool { rate <= 0 }

    /// At most 100 ms of data at a time, each piece sent once the link has carried it.
    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        guard case .data(var buffer, let since) = chunk, rate > 0 else { return stage.passOn(chunk, pump) }
        let most = Int(clamping: rate * 100)
        if buffer.readableBytes > most {
            let piece = buffer.readSlice(length: most)!
            stage.queue.prepend(.data(buffer, since: since))
            buffer = piece
        }
        let duration = TimeAmount.nanoseconds(Int64(buffer.readableBytes) * 1_000_000 / rate)
        stage.nextSend = max(.now(), stage.nextSend) + duration
        stage.hold(.data(buffer, since: since))
        stage.wait(until: stage.nextSend, pump)
    }
}
