import NIOCore
import NetFaultCore

/// Toxiproxy's slicer: data cut into slices of about averageSize ± sizeVariation bytes, sent
/// `delay` apart.
public struct SlicerToxic: TypedToxic {
    public static let type = ToxicType.slicer
    /// Slices up to 1 GiB, a delay up to a day of microseconds.
    public static var attributes: [ToxicAttribute<Self>] {
        [
            .count("average_size", \.averageSize, unit: "bytes", maximum: 1 << 30),
            .count("size_variation", \.sizeVariation, unit: "bytes", maximum: 1 << 30),
            .time("delay", \.delay, in: .microseconds, maximum: .seconds(86_400)),
        ]
    }
    public var averageSize: Int64
    public var sizeVariation: Int64
    public var delay: Duration
    public init(averageSize: Int64, sizeVariation: Int64 = 0, delay: Duration = .zero) {
        self.averageSize = averageSize; self.sizeVariation = sizeVariation; self.delay = delay
    }
    public init() { self.init(averageSize: 0) }
    public var kind: ToxicKind { .slicer(self) }
}

extension SlicerToxic: ProxyToxic {
    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        guard case .data(var buffer, let since) = chunk else { return stage.passOn(chunk, pump) }
        for length in sliceLengths(of: buffer.readableBytes, averageSize: averageSize, sizeVariation: sizeVariation) {
            stage.hold(.data(buffer.readSlice(length: length)!, since: since))
        }
    }

    /// The next slice waits `delay` after this one went on.
    func released(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {
        guard delay > .zero, case .data = chunk else { return }
        stage.wait(until: .now() + .nanoseconds(delay.nanoseconds), pump)
    }
}
