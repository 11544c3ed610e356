/// Request bodies into `JSONValue` (RFC 8259, UTF-8). Foundation's JSONDecoder took about
/// 120 µs of a toxic's POST: decoding an untyped value means trying each kind in turn, and each
/// miss throws an error with its coding path. This reads the bytes once.
///
/// Where RFC 8259 leaves room it does as Toxiproxy's Go decoder does: a repeated key keeps its
/// last value, and a trailing comma is an error (JSONDecoder takes both otherwise). Like
/// JSONDecoder, it refuses numbers beyond a Double (1e400, and 1e-400 rather than read it as 0),
/// lone surrogates and bytes that are not UTF-8, skips a leading byte order mark, and nests at
/// most 512 arrays and objects deep, so a hostile body can neither trap nor exhaust the stack.
struct JSONParser {
    struct Invalid: Error {}
    static let maxDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0
    private var depth = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    static func parse(_ body: [UInt8]) throws(Invalid) -> JSONValue {
        let result: Result<JSONValue, Invalid> = body.withUnsafeBufferPointer { buffer in
            var p = JSONParser(buffer)
            if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { p.at = 3 }
            do throws(Invalid) {
                let value = try p.value()
                p.skipSpace()
                guard p.at == buffer.count else { throw Invalid() }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private var next: UInt8? { at < bytes.count ? bytes[at] : nil }

    private mutating func skipSpace() {
        while let b = next, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { at += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(Invalid) {
        let n = literal.utf8CodeUnitCount
        guard bytes.count - at >= n else { throw Invalid() }
        for k in 0..<n where bytes[at + k] != literal.utf8Start[k] { throw Invalid() }
        at += n
    }

    private mutating func value() throws(Invalid) -> JSONValue {
        skipSpace()
        switch next {
        case UInt8(ascii: "{"): return .object(try object())
        case UInt8(ascii: "["): return .array(try array())
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default: return .number(try number())
        }
    }

    /// Opens an array or object: one level deeper, refused past `maxDepth`.
    private mutating func open() throws(Invalid) {
        depth += 1
        guard depth <= Self.maxDepth else { throw Invalid() }
        at += 1
        skipSpace()
    }

    private mutating func array() throws(Invalid) -> [JSONValue] {
        try open()
        defer { depth -= 1 }
        var items: [JSONValue] = []
        if next == UInt8(ascii: "]") { at += 1; return items }
        while true {
            items.append(try value())
            skipSpace()
            switch next {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "]"): at += 1; return items
            default: throw Invalid()
            }
        }
    }

    private mutating func object() throws(Invalid) -> [String: JSONValue] {
        try open()
        defer { depth -= 1 }
        var members: [String: JSONValue] = [:]
        if next == UInt8(ascii: "}") { at += 1; return members }
        while true {
            skipSpace()
            guard next == UInt8(ascii: "\"") else { throw Invalid() }
            let key = try string()
            skipSpace()
            guard next == UInt8(ascii: ":") else { throw Invalid() }
            at += 1
            members[key] = try value()
            skipSpace()
            switch next {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"): at += 1; return members
            default: throw Invalid()
            }
        }
    }
}

extension JSONParser {
    private static let escapes: [UInt8: UInt8] = [
        UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F, UInt8(ascii: "b"): 0x08,
        UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
    ]

    /// A string, from its opening quote: escapes resolved, UTF-8 checked.
    private mutating func string() throws(Invalid) -> String {
        at += 1
        var out: [UInt8] = []
        while true {
            guard let b = next else { throw Invalid() }
            at += 1
            switch b {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw Invalid() }
                return s
            case UInt8(ascii: "\\"):
                guard let e = next else { throw Invalid() }
                at += 1
                if e == UInt8(ascii: "u") {
                    out.append(contentsOf: UTF8.encode(try escapedScalar())!)
                } else {
                    guard let plain = Self.escapes[e] else { throw Invalid() }
                    out.append(plain)
                }
            case 0..<0x20:
                throw Invalid()  // a control character must be escaped
            default:
                out.append(b)
            }
        }
    }

    /// The scalar of `\uXXXX` (after the `u`), with the `\uXXXX` of its low surrogate if it is a
    /// high one; a lone surrogate is refused.
    private mutating func escapedScalar() throws(Invalid) -> Unicode.Scalar {
        let unit = try hex4()
        switch unit {
        case 0xD800...0xDBFF:
            try expect("\\u")
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw Invalid() }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
        case 0xDC00...0xDFFF:
            throw Invalid()
        default:
            return Unicode.Scalar(unit)!
        }
    }

    private mutating func hex4() throws(Invalid) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let b = next, let d = Self.hexDigit(b) else { throw Invalid() }
            v = v << 4 | d
            at += 1
        }
        return v
    }

    private static func hexDigit(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(b - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// A number by JSON's grammar, as a finite Double.
    private mutating func number() throws(Invalid) -> Double {
        let start = at
        if next == UInt8(ascii: "-") { at += 1 }
        var significant = false  // a non-zero digit before the exponent
        if next == UInt8(ascii: "0") {
            at += 1
        } else {
            guard digits(&significant) else { throw Invalid() }
        }
        if next == UInt8(ascii: ".") {
            at += 1
            guard digits(&significant) else { throw Invalid() }
        }
        if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            at += 1
            if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { at += 1 }
            var ignored = false
            guard digits(&ignored) else { throw Invalid() }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        // Out of a Double's range either way is refused, as JSONDecoder does.
        guard let value = Double(text), value.isFinite, value != 0 || !significant else { throw Invalid() }
        return value
    }

    /// Consumes a run of digits: whether there was one, and whether one was not zero.
    private mutating func digits(_ significant: inout Bool) -> Bool {
        let start = at
        while let b = next, b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
            if b != UInt8(ascii: "0") { significant = true }
            at += 1
        }
        return at > start
    }
}
