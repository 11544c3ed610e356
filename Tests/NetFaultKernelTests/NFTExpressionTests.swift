import CNFTables
import CNetlink
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// Each expression kind written into a NEWRULE message by libnftnl and parsed back from the
/// bytes: the same typed value, every field (the fixtures check the bytes against nft's).
@Suite struct NFTExpressionTests {
    typealias E = NFTExpression

    /// One rule holding `expressions`, encoded and decoded.
    static func roundTrip(_ expressions: [E]) throws -> [E?] {
        let batch = try NFTablesRequests.batch(
            [NFTablesRequests.newRule(table: "t", chain: "output", expressions: expressions, comment: "c")], seq: 1)
        let rule = try #require(NFTablesEncodingTests.messages(batch).first {
            $0.msg.type == NFTablesRequests.messageType(NFT_MSG_NEWRULE)
        })
        return try #require(NFTablesReplies.parsedRule(rule.msg) { NFTablesReplies.typedExpressions($0) })
    }

    static let samples: [(String, [E])] = [
        ("payload", [.payload(.init(base: NFT_PAYLOAD_NETWORK_HEADER, offset: 24, length: 16))]),
        ("meta load", [.meta(.init(key: NFT_META_OIFNAME))]),
        ("meta set", [.meta(.init(key: NFT_META_PRIORITY, setting: true))]),
        ("cmp", [.cmp(.init(NFT_CMP_LT, [0, 0, 0xc3, 0x50]))]),
        ("bitwise naming its op", [.bitwise(.init(mask: [0x12], namingOp: true))]),
        ("bitwise without its op", [.bitwise(.init(mask: [0xff, 0xc0, 0, 0], namingOp: false))]),
        ("byteorder", [.byteorder(.init(NFT_BYTEORDER_HTON, length: 4, size: 4))]),
        ("lookup", [.lookup(.init(set: "lease", setID: 7))]),
        ("numgen", [.numgen(.init(type: NFT_NG_RANDOM, modulus: 1_000_000))]),
        ("counter", [.counter(.init())]),
        ("immediate verdict", [.immediate(.verdict(NF_DROP))]),
        ("immediate data", [.immediate(.data([1, 2, 3, 4], into: 2))]),
        ("reject", [.reject(.init(NFT_REJECT_ICMPX_UNREACH, code: 3))]),
        ("dynset", [.dynset(.init(NFT_DYNSET_OP_ADD, set: "chosen4", setID: 2))])
    ]

    @Test(arguments: samples.map(\.0))
    func kindRoundTrips(_ name: String) throws {
        let expressions = try #require(Self.samples.first { $0.0 == name }).1
        #expect(try Self.roundTrip(expressions) == expressions.map { $0 })
    }

    /// Fields away from netfault's defaults survive too: registers, offsets, flags, counts.
    @Test func nonDefaultFieldsRoundTrip() throws {
        var payload = E.Payload(base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: 13, length: 1)
        payload.register = 3
        var lookup = E.Lookup(set: "other", setID: 2)
        lookup.flags = 1  // NFT_LOOKUP_F_INV
        var counter = E.Counter()
        counter.packets = 5; counter.bytes = 300
        var numgen = E.Numgen(type: NFT_NG_INCREMENTAL, modulus: 3)
        numgen.offset = 10
        var dynset = E.Dynset(NFT_DYNSET_OP_UPDATE, set: "passed6", setID: 5)
        dynset.keyRegister = 9; dynset.timeoutMilliseconds = 300_000
        let all: [E] = [.payload(payload), .lookup(lookup), .counter(counter), .numgen(numgen), .dynset(dynset)]
        #expect(try Self.roundTrip(all) == all.map { $0 })
    }

    /// A kind netfault does not model reads as nil, so the rule is not taken for one of ours.
    @Test func unknownKindIsNil() throws {
        let r = try #require(nftnl_rule_alloc())
        defer { nftnl_rule_free(r) }
        nftnl_rule_add_expr(r, try #require(nftnl_expr_alloc("ct")))
        #expect(NFTablesReplies.typedExpressions(r) == [nil])
    }

    /// Every FilterRule of the fixtures is the list its builder writes, and reads back from it.
    @Test(arguments: NFTablesEncodingTests.names)
    func filterRuleFromItsExpressions(_ name: String) throws {
        let rule = try #require(NFTablesEncodingTests.rules[name])
        let decoded = try Self.roundTrip(rule.expressions)
        #expect(decoded == rule.expressions.map { $0 })
        let parsed = FilterRule(hook: rule.hook.rawValue, expressions: decoded.compactMap { $0 }, comment: rule.comment)
        #expect(parsed == rule)
    }

    /// Shapes close to netfault's but not its own are refused, not misread.
    @Test func nearShapesAreNotOurs() throws {
        let base = try #require(NFTablesEncodingTests.rules["hang_any"]).expressions
        var inverted = base
        if let i = inverted.firstIndex(where: { $0.lookup != nil }), var l = inverted[i].lookup {
            l.flags = 1
            inverted[i] = .lookup(l)
        }
        var otherFlags = base
        if let i = otherFlags.firstIndex(where: { $0.bitwise != nil }) {
            otherFlags[i] = .bitwise(.init(mask: [0x01], namingOp: true))  // fin, not a shape netfault makes
        }
        for shape in [inverted, otherFlags, Array(base.dropLast()), base + [.counter(.init())]] {
            #expect(FilterRule(hook: "output", expressions: shape, comment: "x") == nil)
        }
        #expect(FilterRule(hook: "forward", expressions: base, comment: "x") == nil)
    }
}
