import FoundationEssentials
import NetFaultCore

/// Which way a toxic acts, as Toxiproxy names it: `upstream` is client → server, `downstream`
/// server → client.
public enum ToxicStream: String, Codable, Sendable, CaseIterable {
    case upstream, downstream
}

/// The toxic types Toxiproxy 2 registers, by its names.
public enum ToxicType: String, Codable, Sendable, CaseIterable {
    case noop, latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data

    /// A toxic of this type with every attribute 0, as Toxiproxy's defaults.
    public var zero: ToxicKind {
        switch self {
        case .noop: NoopToxic().kind
        case .latency: LatencyToxic().kind
        case .bandwidth: BandwidthToxic().kind
        case .slow_close: SlowCloseToxic().kind
        case .timeout: TimeoutToxic().kind
        case .reset_peer: ResetPeerToxic().kind
        case .slicer: SlicerToxic().kind
        case .limit_data: LimitDataToxic().kind
        }
    }

    /// The attribute names, in Toxiproxy's JSON.
    public var attributeNames: [String] { zero.typed.attributeNames }
}

/// One toxic with its typed attributes: a case per type, each a type of its own (Toxics/*.swift)
/// that holds its attributes' ranges and its behaviour in the proxy.
public enum ToxicKind: Sendable, Equatable {
    case noop(NoopToxic)
    case latency(LatencyToxic)
    case bandwidth(BandwidthToxic)
    case slowClose(SlowCloseToxic)
    case timeout(TimeoutToxic)
    case resetPeer(ResetPeerToxic)
    case slicer(SlicerToxic)
    case limitData(LimitDataToxic)

    /// The toxic itself, whatever its type.
    public var typed: any TypedToxic {
        switch self {
        case .noop(let t): t
        case .latency(let t): t
        case .bandwidth(let t): t
        case .slowClose(let t): t
        case .timeout(let t): t
        case .resetPeer(let t): t
        case .slicer(let t): t
        case .limitData(let t): t
        }
    }

    public var type: ToxicType { Swift.type(of: typed).type }
}

/// A toxic as Toxiproxy's API shows it: name, stream, toxicity and its typed kind.
public struct Toxic: Sendable, Equatable {
    public var name: String
    public var stream: ToxicStream
    /// The probability that a connection gets this toxic, decided once per connection.
    public var toxicity: Double
    public var kind: ToxicKind

    public init(name: String, stream: ToxicStream, toxicity: Double = 1, _ kind: ToxicKind) {
        self.name = name; self.stream = stream; self.toxicity = toxicity; self.kind = kind
    }

    /// A toxic with Toxiproxy's default name, TYPE_STREAM.
    public init(_ kind: ToxicKind, stream: ToxicStream, toxicity: Double = 1) {
        self.init(name: "\(kind.type.rawValue)_\(stream.rawValue)", stream: stream, toxicity: toxicity, kind)
    }

    public var type: ToxicType { kind.type }
    /// Every attribute of the toxic's type, by Toxiproxy's name, in its JSON units.
    public var attributes: [String: Int64] { kind.typed.attributeValues }
}

extension Toxic: Encodable {
    enum CodingKeys: String, CodingKey { case attributes, name, type, stream, toxicity }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(attributes, forKey: .attributes)
        try c.encode(name, forKey: .name)
        try c.encode(type, forKey: .type)
        try c.encode(stream, forKey: .stream)
        try c.encode(toxicity, forKey: .toxicity)
    }
}
