import FoundationEssentials
@testable import NetFaultServe
import TestSupport

/// Random JSON documents: values, texts of them in random spacing and escapes, and bytes
/// mangled from those texts.
enum JSONDocuments {
    static let characters: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}",
                                          "é", "€", "😀", "\u{FFFF}", "\u{0}"]

    static func value(depth: Int, using rng: inout SplitMix64) -> JSONValue {
        switch Int.random(in: 0..<(depth > 0 ? 7 : 5), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(number(using: &rng))
        case 3, 4: return .string(string(using: &rng))
        case 5:
            return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in value(depth: depth - 1, using: &rng) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                members[string(using: &rng)] = value(depth: depth - 1, using: &rng)
            }
            return .object(members)
        }
    }

    static func number(using rng: inout SplitMix64) -> Double {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: Double(Int.random(in: -1_000_000...1_000_000, using: &rng))
        case 1: Double.random(in: -1...1, using: &rng)
        case 2: Double.random(in: 1...10, using: &rng) * pow10(Int.random(in: -300...300, using: &rng))
        default: [0.0, -0.0, 1e-5, 0.1, 65535, 2e9][Int.random(in: 0..<6, using: &rng)]
        }
    }

    static func pow10(_ e: Int) -> Double { Double("1e\(e)")! }

    static func string(using rng: inout SplitMix64) -> String {
        String((0..<Int.random(in: 0...6, using: &rng)).map { _ in characters.randomElement(using: &rng)! })
    }

    static func text(_ value: JSONValue, using rng: inout SplitMix64) -> String {
        let space = ["", "", " ", "\n", "\t ", "\r\n"].randomElement(using: &rng)!
        switch value {
        case .null: return space + "null"
        case .bool(let b): return space + (b ? "true" : "false")
        case .number(let n): return space + "\(n)"
        case .string(let s): return space + quoted(s, using: &rng)
        case .array(let items):
            return space + "[" + items.map { text($0, using: &rng) }.joined(separator: ",") + space + "]"
        case .object(let members):
            let parts = members.map { key, v in quoted(key, using: &rng) + space + ":" + text(v, using: &rng) }
            return space + "{" + parts.joined(separator: "," + space) + space + "}"
        }
    }

    /// A string literal: what must be escaped is, and any other character may be too.
    static func quoted(_ s: String, using rng: inout SplitMix64) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            let v = scalar.value
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += Bool.random(using: &rng) ? "\\n" : "\\u000a"
            case "/" where Bool.random(using: &rng): out += "\\/"
            default:
                if v < 0x20 || Int.random(in: 0..<4, using: &rng) == 0 {
                    out += v > 0xFFFF ? unicodeEscape(0xD800 + ((v - 0x10000) >> 10)) + unicodeEscape(0xDC00 + (v & 0x3FF))
                        : unicodeEscape(v)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func unicodeEscape(_ v: UInt32) -> String {
        let hex = String(v, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }

    static func mangle(_ bytes: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
        var b = bytes
        let alphabet = Array("{}[],:\"\\ 0123456789.eE+-tfnulu".utf8) + [0xFF, 0xC3, 0x00]
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let at = b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !b.isEmpty: b.remove(at: at)
            case 1: b.insert(alphabet.randomElement(using: &rng)!, at: at)
            case 2 where !b.isEmpty: b[at] = alphabet.randomElement(using: &rng)!
            case 3: b = Array(b.prefix(at))
            default: b.insert(contentsOf: b[at..<min(b.count, at + 4)], at: at)
            }
        }
        return b
    }
}

/// JSONDecoder's reading of a document as a JSONValue: the parser's former path.
struct FoundationJSON: Decodable {
    let value: JSONValue

    static func parse(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(FoundationJSON.self, from: Data(text.utf8)).value
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { value = .null }
        else if let b = try? c.decode(Bool.self) { value = .bool(b) }
        else if let n = try? c.decode(Double.self) { value = .number(n) }
        else if let s = try? c.decode(String.self) { value = .string(s) }
        else if let a = try? c.decode([FoundationJSON].self) { value = .array(a.map(\.value)) }
        else { value = .object(try c.decode([String: FoundationJSON].self).mapValues(\.value)) }
    }
}
