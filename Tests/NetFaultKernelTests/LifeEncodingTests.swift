import CNFTables
import CNetlink
import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// --reset-after, --hang-after and --limit-data: their rules byte for byte what nft 1.0.6 sent
/// for the same syntax (Fixtures/nft-rules.txt, from scripts/capture-nft-fixtures), and read
/// back as the same rules.
@Suite struct LifeEncodingTests {
    static let c = "netfault nf-fixture: "
    static func peer(_ s: String) -> IPPrefix { try! IPPrefix.parse(s) }

    static let starts: [String: TimerStart] = [
        "timer_start_v4": TimerStart(hook: .output, peer: nil, family: .ipv4, comment: c + "reset-after 2s"),
        "timer_start_v6_host_input": TimerStart(
            hook: .input, peer: peer("::1"), family: .ipv6, comment: c + "hang-after 5s")
    ]

    static func rule(
        _ hook: FilterRule.Hook, _ side: PortMatch.Side, _ flags: FilterRule.Flags?, _ family: IPAddress.Family,
        _ kind: LifeRule.Kind, _ verdict: LifeRule.Verdict, _ summary: String, peer: IPPrefix? = nil,
        chosen: Bool = false
    ) -> LifeRule {
        LifeRule(
            hook: hook, side: side, peer: peer, flags: flags, family: family, chosen: chosen, kind: kind,
            verdict: verdict, comment: c + summary)
    }

    static let rules: [String: LifeRule] = [
        "reset_after_v4_input": rule(.input, .destination, .notRst, .ipv4, .expired, .reset, "reset-after 2s"),
        "reset_after_v6_prefix_source": rule(
            .input, .source, .notRst, .ipv6, .expired, .reset, "reset-after 2s", peer: peer("2001:db8::/32")),
        "hang_after_v6_source": rule(.output, .source, .notSyn, .ipv6, .expired, .drop, "hang-after 5s"),
        "reset_after_chosen_v4": rule(
            .output, .destination, .notRst, .ipv4, .expired, .reset, "reset-after 2s, connections 30%",
            chosen: true),
        "limit_data_v4_input": rule(
            .input, .source, nil, .ipv4, .overBudget(4096), .resetReceiver, "limit-data 4096"),
        "limit_data_close_v6_host": rule(
            .output, .source, nil, .ipv6, .overBudget(65536), .drop, "limit-data 65536 close", peer: peer("::1"))
    ]

    /// Our NEWRULE message for `message`, checked against the fixture `name`; its expressions as
    /// libnftnl parses them back.
    func checked(
        _ name: String, hook: FilterRule.Hook, syntax: String, _ message: @escaping NFTablesRequests.Message
    ) throws -> [NFTExpression] {
        let fixture = try #require(NFTFixtures.loaded.rules[name], "no fixture \(name): run scripts/capture-nft-fixtures")
        #expect(syntax == fixture.syntax)
        #expect(hook.rawValue == fixture.hook)
        let batch = try NFTablesRequests.batch([message], seq: 9)
        let ours = try #require(NFTablesEncodingTests.messages(batch).first {
            $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWRULE)
        }).bytes
        let listing = try #require(NFTablesReplies.listing(ofRuleMessage: ours))
        #expect(listing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == fixture.listing)
        #expect(hex(ShareEncodingTests.normalized(ours, like: fixture.bytes)) == hex(withoutSeqAndPid(fixture.bytes)))
        let parsed = try #require(NFTablesReplies.parsedRule(NetlinkMessage.parse(ours)[0]) { r in
            NFTablesReplies.typedExpressions(r)
        })
        #expect(!parsed.contains { $0 == nil })
        return parsed.compactMap { $0 }
    }

    @Test(arguments: starts.keys.sorted())
    func timerStartMatchesNft(_ name: String) throws {
        let rule = try #require(Self.starts[name])
        let e = try checked(
            name, hook: rule.hook, syntax: rule.nftSyntax, NFTablesRequests.newRule(table: NFTFixtures.table, rule))
        #expect(TimerStart(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == rule)
        // Not a draw of --connections (status would count it), nor any other kind of rule.
        #expect(ShareRule(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == nil)
        #expect(FilterRule(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == nil)
        #expect(LifeRule(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == nil)
        #expect(TimerStart(hook: rule.hook.rawValue, expressions: Array(e.dropLast()), comment: "") == nil)
    }

    @Test(arguments: rules.keys.sorted())
    func lifeRuleMatchesNft(_ name: String) throws {
        let rule = try #require(Self.rules[name])
        let e = try checked(
            name, hook: rule.hook, syntax: rule.nftSyntax, NFTablesRequests.newRule(table: NFTFixtures.table, rule))
        #expect(LifeRule(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == rule)
        #expect(FilterRule(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == nil)
        #expect(TimerStart(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == nil)
        #expect(LifeRule(hook: rule.hook.rawValue, expressions: Array(e.dropLast()), comment: "") == nil)
        #expect(NFTablesReplies.lifeSyntax(rule.hook.rawValue, e, rule.comment) == rule.nftSyntax)
    }

    static let slices: [String: SliceRule] = [
        "slice_v4": SliceRule(hook: .input, peer: nil, chosen: nil, bytes: 100, comment: c + "slice 100"),
        "slice_v6_host_chosen": SliceRule(
            hook: .output, peer: peer("::1"), chosen: .ipv6, bytes: 1400, comment: c + "slice 1400, connections 30%")
    ]

    @Test(arguments: slices.keys.sorted())
    func sliceMatchesNft(_ name: String) throws {
        let rule = try #require(Self.slices[name])
        let e = try checked(
            name, hook: rule.hook, syntax: rule.nftSyntax, NFTablesRequests.newRule(table: NFTFixtures.table, rule))
        #expect(SliceRule(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == rule)
        #expect(FilterRule(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == nil)
        #expect(LifeRule(hook: rule.hook.rawValue, expressions: e, comment: rule.comment) == nil)
        #expect(SliceRule(hook: rule.hook.rawValue, expressions: Array(e.dropLast()), comment: "") == nil)
        #expect(NFTablesReplies.lifeSyntax(rule.hook.rawValue, e, rule.comment) == rule.nftSyntax)
    }

    /// The install batch: the timer sets (young with the timer's length, at most the lease's),
    /// the starts before any rule that ends a connection, the budget sets with the lease's.
    @Test func installBatchOrdersSetsAndRules() throws {
        let spec = FilterSpec(life: ConnectionLife(resetAfter: .seconds(2), limitData: 4096))
        let plan = try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .both, spec: spec))
        let messages = NFTablesEncodingTests.messages(try NFTablesRequests.installBatch(
            plan, timeoutMilliseconds: 60_000, seq: 1))
        let sets = messages.filter { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWSET) }
        #expect(sets.count == 1 + 4 + 2)
        let rules = messages.filter { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWRULE) }
            .compactMap { NFTablesReplies.listing(ofRuleMessage: $0.bytes) }
        #expect(rules.count == 2 + 4 + 2)
        #expect(rules.prefix(2).allSatisfy { $0.contains("dynset add reg_key 1 set young") })
        #expect(rules.dropFirst(2).allSatisfy { !$0.contains("set young4 ]") || $0.contains("0x1 ]") })
        // A timer longer than the lease is cut to it.
        #expect(plan.life?.timerMilliseconds(lease: 60_000) == 2000)
        #expect(plan.life?.timerMilliseconds(lease: 1500) == 1500)
    }
}
