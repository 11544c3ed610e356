import FoundationEssentials
import Testing
@testable import NetFaultServe
import TestSupport

/// The request-body parser against JSON's grammar and against Foundation's JSONDecoder, which
/// it replaced: on every body either takes, they must agree.
struct JSONParserTests {
    static func parse(_ text: String) -> JSONValue? { try? JSONParser.parse(Array(text.utf8)) }

    @Test(
        "values, escapes and the grammar's edges",
        arguments: [
            (#"{"name":"t","type":"timeout","attributes":{"timeout":0}}"#,
             JSONValue.object(["name": .string("t"), "type": .string("timeout"),
                               "attributes": .object(["timeout": .number(0)])])),
            (" [true, false, null, -0, 1E5, 2.5e-3, 1e+2] ",
             .array([.bool(true), .bool(false), .null, .number(-0.0), .number(1e5), .number(0.0025), .number(100)])),
            (#""\"\\\/\b\f\n\r\t\u00e9\u0000""#, .string("\"\\/\u{08}\u{0C}\n\r\té\u{0}")),
            (#""\ud83d\ude00 é""#, .string("😀 é")),
            ("\u{FEFF}{}", .object([:])),
            (#"{"a":1,"a":2}"#, .object(["a": .number(2)])),  // the last, as Go's decoder keeps
            ("[[[]]]", .array([.array([.array([])])])),
        ] as [(String, JSONValue)])
    func accepted(text: String, value: JSONValue) {
        #expect(Self.parse(text) == value, "\(text)")
    }

    @Test(
        "bodies that are not JSON",
        arguments: [
            "", " ", "[1,]", #"{"a":1,}"#, "01", "1.", ".5", "-", "+1", "1e", "NaN", "Infinity", "tru", "nul",
            "1 2", #"{"a" 1}"#, #"{a:1}"#, #""\x""#, "\"a\u{01}\"", #""\ud800""#, #""\udc00x""#, #""\ud800\u0041""#,
            #""\u12g4""#, "\"abc", "[1", #"{"a":"#, "1e400", "-1e400", "1e-400", "}", "[1]]",
        ])
    func refused(text: String) {
        #expect(Self.parse(text) == nil, "\(text.debugDescription)")
    }

    @Test("bytes that are not UTF-8 are refused, in strings and outside them")
    func notUTF8() {
        #expect((try? JSONParser.parse([0x22, 0xFF, 0x22])) == nil)
        #expect((try? JSONParser.parse([0x22, 0xC3, 0x22])) == nil)
        #expect((try? JSONParser.parse([0xFF])) == nil)
    }

    @Test("nesting stops at 512 arrays or objects deep")
    func depth() {
        func nested(_ n: Int, _ open: String, _ close: String) -> String {
            String(repeating: open, count: n) + String(repeating: close, count: n)
        }
        #expect(Self.parse(nested(512, "[", "]")) != nil)
        #expect(Self.parse(nested(513, "[", "]")) == nil)
        #expect(Self.parse(nested(100_000, "[", "]")) == nil)
        #expect(Self.parse(String(repeating: #"{"a":"#, count: 513) + "1" + String(repeating: "}", count: 513)) == nil)
    }

    @Test("random documents read back as written, and as JSONDecoder reads them")
    func roundTrip() throws {
        var rng = SplitMix64(state: 24)
        for _ in 0..<2_000 {
            let value = JSONDocuments.value(depth: 3, using: &rng)
            let text = JSONDocuments.text(value, using: &rng)
            #expect(Self.parse(text) == value, "\(text)")
            #expect(FoundationJSON.parse(text) == value, "\(text)")
        }
    }

    @Test("mangled documents never trap, and what this takes JSONDecoder takes alike")
    func mangled() {
        var rng = SplitMix64(state: 7)
        var accepted = 0, refused = 0
        for _ in 0..<20_000 {
            let text = JSONDocuments.text(JSONDocuments.value(depth: 3, using: &rng), using: &rng)
            let bytes = JSONDocuments.mangle(Array(text.utf8), using: &rng)
            guard let mine = try? JSONParser.parse(bytes) else { refused += 1; continue }
            accepted += 1
            let theirs = try? JSONDecoder().decode(FoundationJSON.self, from: Data(bytes)).value
            #expect(theirs == mine, "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(accepted > 1_000 && refused > 1_000, "accepted \(accepted), refused \(refused)")
    }
}
