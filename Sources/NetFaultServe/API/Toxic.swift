import FoundationEssentials

/// Which way a toxic acts, as Toxiproxy names it: `upstream` is client → server, `downstream`
/// server → client.
public enum ToxicStream: String, Codable, Sendable, CaseIterable {
    case upstream, downstream
}

/// The toxic types Toxiproxy 2 defines, with their attributes in its names and units.
public enum ToxicType: String, Codable, Sendable, CaseIterable {
    case noop, latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data

    /// The attribute names, each defaulting to 0 as in Toxiproxy.
    public var attributeNames: [String] {
        switch self {
        case .noop: []
        case .latency: ["latency", "jitter"]
        case .bandwidth: ["rate"]
        case .slow_close: ["delay"]
        case .timeout, .reset_peer: ["timeout"]
        case .slicer: ["average_size", "size_variation", "delay"]
        case .limit_data: ["bytes"]
        }
    }

    /// The largest value each attribute takes: an hour of milliseconds, 1 TB/s of KB, 1 GiB
    /// slices, a day of microseconds, 2^53 bytes.
    func maximum(of attribute: String) -> Int64 {
        switch (self, attribute) {
        case (.bandwidth, _): 1_000_000_000
        case (.slicer, "delay"): 86_400_000_000
        case (.slicer, _): 1 << 30
        case (.limit_data, _): 1 << 53
        default: 3_600_000
        }
    }
}

/// A toxic as Toxiproxy's API shows it: name, type, stream, toxicity and typed attributes.
public struct Toxic: Sendable, Equatable {
    public var name: String
    public var type: ToxicType
    public var stream: ToxicStream
    /// The probability that a connection gets this toxic, decided once per connection.
    public var toxicity: Double
    /// Every attribute of `type`, by Toxiproxy's name.
    public var attributes: [String: Int64]

    public init(
        name: String, type: ToxicType, stream: ToxicStream, toxicity: Double = 1, attributes: [String: Int64] = [:]
    ) {
        self.name = name; self.type = type; self.stream = stream; self.toxicity = toxicity
        self.attributes = Dictionary(uniqueKeysWithValues: type.attributeNames.map { ($0, attributes[$0] ?? 0) })
    }

    public subscript(_ attribute: String) -> Int64 { attributes[attribute] ?? 0 }

    /// What the toxic does, in typed units.
    public enum Effect: Sendable, Equatable {
        /// Nothing: Toxiproxy's noop, which its docs and clients use to test a toxic's life cycle.
        case noop
        /// Each chunk held for latency ± jitter (uniform), in milliseconds.
        case latency(milliseconds: Int64, jitter: Int64)
        /// At most this many KB (1000 bytes) per second, per connection.
        case bandwidth(kilobytesPerSecond: Int64)
        /// The close delayed by this many milliseconds.
        case slowClose(milliseconds: Int64)
        /// Data stops; after this many milliseconds (0: never) the connection is closed.
        case timeout(milliseconds: Int64)
        /// After this many milliseconds the connection is reset (RST); 0: at once.
        case resetPeer(milliseconds: Int64)
        /// Data cut into slices of about averageSize ± sizeVariation bytes, delay µs apart.
        case slicer(averageSize: Int64, sizeVariation: Int64, delayMicroseconds: Int64)
        /// The connection closed once this many bytes have passed.
        case limitData(bytes: Int64)
    }

    public var effect: Effect {
        switch type {
        case .noop: .noop
        case .latency: .latency(milliseconds: self["latency"], jitter: self["jitter"])
        case .bandwidth: .bandwidth(kilobytesPerSecond: self["rate"])
        case .slow_close: .slowClose(milliseconds: self["delay"])
        case .timeout: .timeout(milliseconds: self["timeout"])
        case .reset_peer: .resetPeer(milliseconds: self["timeout"])
        case .slicer:
            .slicer(
                averageSize: self["average_size"], sizeVariation: self["size_variation"],
                delayMicroseconds: self["delay"])
        case .limit_data: .limitData(bytes: self["bytes"])
        }
    }
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
