import CNFTables
import CNetlink
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// A scope's forgetting (ForgetRule), byte for byte what nft 1.0.6 sent for the same syntax.
@Suite struct ForgetEncodingTests {
    static let c = "netfault nf-fixture: "
    static let rules: [String: ForgetRule] = [
        "forget_chosen_v4": ForgetRule(
            hook: .output, peer: nil, family: .ipv4, chosen: true, comment: c + "reject, scope uid 65534"),
        "forget_passed_v6_host": ForgetRule(
            hook: .output, peer: try! IPPrefix.parse("::1"), family: .ipv6, chosen: false,
            comment: c + "hang, scope cgroup"),
    ]

    @Test(arguments: rules.keys.sorted())
    func forgetRuleMatchesNft(_ name: String) throws {
        let rule = try #require(Self.rules[name])
        let fixture = try #require(NFTFixtures.loaded.rules[name], "no fixture \(name): run scripts/capture-nft-fixtures")
        #expect(rule.nftSyntax == fixture.syntax)
        #expect(rule.hook.rawValue == fixture.hook)
        let batch = try NFTablesRequests.batch([NFTablesRequests.newRule(table: NFTFixtures.table, rule)], seq: 9)
        let ours = try #require(NFTablesEncodingTests.messages(batch).first {
            $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWRULE)
        }).bytes
        let listing = try #require(NFTablesReplies.listing(ofRuleMessage: ours))
        #expect(listing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == fixture.listing)
        #expect(hex(ShareEncodingTests.normalized(ours, like: fixture.bytes)) == hex(withoutSeqAndPid(fixture.bytes)))
        // It reads back as itself (status prints its syntax), and as no draw and no fault rule.
        let expressions = try #require(NFTablesReplies.parsedRule(NetlinkMessage.parse(ours)[0]) { r in
            NFTablesReplies.typedExpressions(r)
        }).compactMap { $0 }
        #expect(ForgetRule(hook: rule.hook.rawValue, expressions: expressions, comment: rule.comment) == rule)
        #expect(ShareRule(hook: rule.hook.rawValue, expressions: expressions, comment: rule.comment) == nil)
        #expect(FilterRule(hook: rule.hook.rawValue, expressions: expressions, comment: rule.comment) == nil)
    }

    /// A scope alone forgets before it draws; a share (alone or with a scope) never forgets, or a
    /// resent SYN would be drawn again.
    @Test func onlyAScopeAloneForgets() throws {
        func plan(_ spec: FilterSpec) throws -> FilterPlan {
            try #require(
                FilterPlanner.plan(
                    leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .toServer, spec: spec))
        }
        let scoped = try plan(FilterSpec(action: .reject, scope: .uid(65534)))
        #expect(scoped.share?.forgets?.count == 4)
        let rules = NFTablesEncodingTests.messages(try NFTablesRequests.installBatch(scoped, timeoutMilliseconds: 1, seq: 1))
            .filter { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWRULE) }
            .compactMap { NFTablesReplies.listing(ofRuleMessage: $0.bytes) }
        #expect(rules.prefix(4).allSatisfy { $0.contains("dynset delete") })
        #expect(rules.dropFirst(4).prefix(4).allSatisfy { $0.contains("dynset add") })
        #expect(try plan(FilterSpec(action: .reject, connections: .every(2), scope: .uid(1))).share?.forgets == nil)
        #expect(try plan(FilterSpec(action: .reject, connections: .every(2))).share?.forgets == nil)
    }
}
