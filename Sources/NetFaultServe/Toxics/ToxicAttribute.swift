import NetFaultCore

/// A toxic type with typed attributes, as Toxiproxy's `toxics/*.go` structs: each type lists
/// its attributes once, with the one range each takes; decoding, checking and encoding all
/// read that list.
public protocol TypedToxic: Sendable, Equatable {
    static var type: ToxicType { get }
    /// The attributes, in Toxiproxy's JSON names and units.
    static var attributes: [ToxicAttribute<Self>] { get }
    /// Every attribute 0, Toxiproxy's default.
    init()
    /// This toxic as the case of `ToxicKind` that holds it.
    var kind: ToxicKind { get }
}

extension TypedToxic {
    public var attributeNames: [String] { Self.attributes.map(\.name) }

    /// Every attribute by name, in its JSON unit.
    public var attributeValues: [String: Int64] {
        Dictionary(uniqueKeysWithValues: Self.attributes.map { ($0.name, $0.read(self)) })
    }

    /// This toxic with the attributes a request gives over its own. Attributes its type does
    /// not have are ignored, as Toxiproxy (Go's JSON decoder) ignores them.
    public func setting(_ given: [String: JSONValue]) throws(ApiError) -> Self {
        var toxic = self
        for (key, value) in given.sorted(by: { $0.key < $1.key }) {
            guard let attribute = Self.attributes.first(where: { $0.name == key }) else { continue }
            attribute.write(&toxic, try attribute.checked(value))
        }
        return toxic
    }

    /// Refuses a typed toxic (made in code, not decoded) with an attribute outside its range,
    /// with the message a request with that value gets.
    public func check() throws(ApiError) {
        for attribute in Self.attributes { try attribute.check(self) }
    }
}

/// One attribute of a toxic type: its name in Toxiproxy's JSON, the whole numbers it takes
/// there (its one range, in its unit), and where the typed toxic keeps it.
public struct ToxicAttribute<Toxic> {
    public let name: String
    /// The values the JSON may give, in `unit`.
    public let range: ClosedRange<Int64>
    /// The JSON number's unit: "ms", "µs", "bytes", "KB/s".
    public let unit: String
    /// The typed value in `unit`, and what is left below one unit (0 for counts).
    let read: (Toxic) -> Int64
    let remainder: (Toxic) -> Int64
    let write: (inout Toxic, Int64) -> Void

    /// A count (bytes, KB) from 0 to `maximum`.
    static func count(_ name: String, _ path: WritableKeyPath<Toxic, Int64>, unit: String, maximum: Int64) -> Self {
        ToxicAttribute(
            name: name, range: 0...maximum, unit: unit, read: { $0[keyPath: path] }, remainder: { _ in 0 },
            write: { $0[keyPath: path] = $1 })
    }

    /// A time given in whole milliseconds or microseconds, from 0 to `maximum`.
    static func time(_ name: String, _ path: WritableKeyPath<Toxic, Duration>, in unit: TimeUnit, maximum: Duration)
        -> Self
    {
        ToxicAttribute(
            name: name, range: 0...(maximum.nanoseconds / unit.nanoseconds), unit: unit.symbol,
            read: { $0[keyPath: path].nanoseconds / unit.nanoseconds },
            remainder: { $0[keyPath: path].nanoseconds % unit.nanoseconds },
            write: { $0[keyPath: path] = Duration(nanoseconds: $1 * unit.nanoseconds) })
    }

    /// A JSON value as this attribute's number. Untrusted: checked as a Double before Int64
    /// holds it (Int64(1e308) traps), and messages show the number as the client wrote it.
    func checked(_ value: JSONValue) throws(ApiError) -> Int64 {
        guard case .number(let n) = value else { throw refusal("must be a whole number, not \(value.kind)") }
        guard n.rounded() == n else { throw refusal("must be a whole number, not \(n)") }
        guard n >= Double(range.lowerBound) else { throw below(Self.shown(n)) }
        guard n <= Double(range.upperBound) else { throw above(Self.shown(n)) }
        return Int64(n)  // inside the range: exact, and far inside Int64
    }

    func check(_ toxic: Toxic) throws(ApiError) {
        let (value, rest) = (read(toxic), remainder(toxic))
        guard rest == 0 else { throw refusal("must be whole \(unit), not \(value) \(unit) and \(rest) ns") }
        guard value >= range.lowerBound else { throw below(String(value)) }
        guard value <= range.upperBound else { throw above(String(value)) }
    }

    private func refusal(_ why: String) -> ApiError { ApiError.badRequestBody.joined("attribute \(name) \(why)") }

    private func below(_ shown: String) -> ApiError {
        range.lowerBound == 0
            ? refusal("is negative (\(shown))")
            : ApiError.badRequestBody.joined("attribute \(name) \(shown) is below its minimum \(range.lowerBound)")
    }

    private func above(_ shown: String) -> ApiError {
        ApiError.badRequestBody.joined("attribute \(name) \(shown) is above its maximum \(range.upperBound)")
    }

    /// A whole JSON number as a client wrote it: digits when Int64 holds it, else as a Double.
    static func shown(_ n: Double) -> String {
        n.magnitude < 0x1p63 ? String(Int64(n)) : String(describing: n)
    }
}

/// The unit a time attribute takes in Toxiproxy's JSON.
enum TimeUnit {
    case milliseconds, microseconds
    var nanoseconds: Int64 { self == .milliseconds ? 1_000_000 : 1_000 }
    var symbol: String { self == .milliseconds ? "ms" : "µs" }
}
