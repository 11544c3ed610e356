import FoundationEssentials

/// Any JSON value, so that request bodies are checked field by field with messages that name
/// the field (a Codable struct would stop at the first type mismatch with a generic message).
public enum JSONValue: Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Parses a request body; an empty body is an empty object, as Go's decoder leaves the
    /// defaults in place... except that Toxiproxy answers EOF, so: an error.
    public static func parse(_ body: [UInt8]) throws(ApiError) -> JSONValue {
        guard !body.isEmpty else { throw ApiError.badRequestBody.joined("EOF") }
        do {
            return try JSONParser.parse(body)
        } catch {
            throw ApiError.badRequestBody.joined("not valid JSON")
        }
    }

    func object(_ what: String) throws(ApiError) -> [String: JSONValue] {
        guard case .object(let o) = self else {
            throw ApiError.badRequestBody.joined("\(what) must be a JSON object, not \(kind)")
        }
        return o
    }
}

extension [String: JSONValue] {
    func string(_ key: String) throws(ApiError) -> String? {
        switch self[key] {
        case nil, .null: return nil
        case .string(let s): return s
        case let v?: throw ApiError.badRequestBody.joined("\(key) must be a string, not \(v.kind)")
        }
    }

    func bool(_ key: String) throws(ApiError) -> Bool? {
        switch self[key] {
        case nil, .null: return nil
        case .bool(let b): return b
        case let v?: throw ApiError.badRequestBody.joined("\(key) must be true or false, not \(v.kind)")
        }
    }

    func number(_ key: String) throws(ApiError) -> Double? {
        switch self[key] {
        case nil, .null: return nil
        case .number(let n): return n
        case let v?: throw ApiError.badRequestBody.joined("\(key) must be a number, not \(v.kind)")
        }
    }
}

/// A proxy's settings as the API takes them (create, update, populate, the config file).
public struct ProxySettings: Sendable, Equatable {
    public var name: String
    public var listen: String
    public var upstream: String
    public var enabled: Bool

    public init(name: String, listen: String, upstream: String, enabled: Bool = true) {
        self.name = name; self.listen = listen; self.upstream = upstream; self.enabled = enabled
    }

    /// The addresses, parsed: settings from `parse` or `updated(by:)` passed `check`, and the
    /// registry holds no other.
    public var upstreamAddress: HostPort { HostPort.parse(upstream)! }
    public var listenAddress: HostPort { HostPort.parse(listen)! }

    /// Toxiproxy listens on any address when `listen` is empty; netfault on loopback, so that
    /// nothing is exposed that was not asked for.
    public static let defaultListen = "127.0.0.1:0"

    /// A new proxy from a create or populate body; `index` names it in populate's messages.
    public static func parse(_ value: JSONValue, index: Int? = nil) throws(ApiError) -> ProxySettings {
        let o = try value.object(index.map { "proxy \($0)" } ?? "the body")
        let at = index.map { " at proxy \($0)" } ?? ""
        guard let name = try o.string("name"), !name.isEmpty else { throw ApiError.missingField.joined("name\(at)") }
        guard let upstream = try o.string("upstream"), !upstream.isEmpty else {
            throw ApiError.missingField.joined("upstream\(at)")
        }
        let listen = try o.string("listen").flatMap { $0.isEmpty ? nil : $0 } ?? defaultListen
        let settings = ProxySettings(
            name: name, listen: listen, upstream: upstream, enabled: try o.bool("enabled") ?? true)
        try settings.check()
        return settings
    }

    /// The same proxy with an update's fields over its own (unnamed fields keep their value).
    public func updated(by value: JSONValue) throws(ApiError) -> ProxySettings {
        let o = try value.object("the body")
        var s = self
        if let l = try o.string("listen"), !l.isEmpty { s.listen = l }
        if let u = try o.string("upstream"), !u.isEmpty { s.upstream = u }
        if let e = try o.bool("enabled") { s.enabled = e }
        try s.check()
        return s
    }

    func check() throws(ApiError) {
        guard name.allSatisfy({ $0 != "/" && !$0.isWhitespace }) else {
            throw ApiError.badRequestBody.joined("name '\(name)' may not contain '/' or spaces")
        }
        for (field, address) in [("listen", listen), ("upstream", upstream)] {
            guard HostPort.parse(address) != nil else {
                throw ApiError.badRequestBody.joined(
                    "\(field) '\(address)' is not HOST:PORT (e.g. 127.0.0.1:6379 or [::1]:3306)")
            }
        }
    }
}

/// "host:port", "[v6]:port" or ":port".
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public static func parse(_ text: String) -> HostPort? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        else if host.contains(":") { return nil }
        return HostPort(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension Toxic {
    /// A new toxic from a create body, with Toxiproxy's defaults: stream downstream, toxicity 1,
    /// name TYPE_STREAM, attributes 0.
    public static func parse(_ value: JSONValue) throws(ApiError) -> Toxic {
        let o = try value.object("the body")
        let typeName = try o.string("type") ?? ""
        guard let type = ToxicType(rawValue: typeName) else {
            throw ApiError(
                "invalid toxic type: '\(typeName)'; give one of "
                    + ToxicType.allCases.map(\.rawValue).joined(separator: ", "), status: 400)
        }
        let streamName = try o.string("stream") ?? "downstream"
        guard let stream = ToxicStream(rawValue: streamName.lowercased()) else { throw ApiError.invalidStream }
        let name = try o.string("name").flatMap { $0.isEmpty ? nil : $0 } ?? "\(type.rawValue)_\(stream.rawValue)"
        var toxic = Toxic(name: name, stream: stream, type.zero)
        try toxic.checkName()
        try toxic.update(toxicity: o.number("toxicity"), attributes: o["attributes"])
        return toxic
    }

    /// This toxic with an update's toxicity and attributes over its own; name, type and stream
    /// stay, as in Toxiproxy.
    public func updated(by value: JSONValue) throws(ApiError) -> Toxic {
        let o = try value.object("the body")
        var t = self
        try t.update(toxicity: o.number("toxicity"), attributes: o["attributes"])
        return t
    }

    mutating func update(toxicity: Double?, attributes: JSONValue?) throws(ApiError) {
        if let toxicity {
            try Self.check(toxicity: toxicity)
            self.toxicity = toxicity
        }
        guard let attributes, attributes != .null else { return }
        kind = try kind.typed.setting(attributes.object("attributes")).kind
    }

    /// Refuses a toxic made in code (the matrix's) that a request could not make: a name that
    /// is no path segment, a toxicity outside 0...1, an attribute outside its range.
    public func check() throws(ApiError) {
        guard !name.isEmpty else { throw ApiError.missingField.joined("toxic name") }
        try checkName()
        try Self.check(toxicity: toxicity)
        try kind.typed.check()
    }

    /// A toxic's name is a path segment of its URL, as a proxy's is.
    func checkName() throws(ApiError) {
        guard name.allSatisfy({ $0 != "/" && !$0.isWhitespace }) else {
            throw ApiError.badRequestBody.joined("toxic name '\(name)' may not contain '/' or spaces")
        }
    }

    static func check(toxicity: Double) throws(ApiError) {
        guard toxicity >= 0 && toxicity <= 1 else {
            throw ApiError.badRequestBody.joined("toxicity \(toxicity) is outside 0...1")
        }
    }
}
