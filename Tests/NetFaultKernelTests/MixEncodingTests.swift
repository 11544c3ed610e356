import CNFTables
import CNetlink
import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// A mix (`--connections 30%:reject,10%:hang`): its second group's sets byte for byte what nft
/// 1.0.6 sent (its rules are in ShareEncodingTests' tables), and the whole install batch.
@Suite struct MixEncodingTests {
    @Test(arguments: ["chosen4_2", "chosen6_2"])
    func secondGroupSetMatchesNft(_ name: String) throws {
        let nft = try #require(NFTFixtures.loaded.shareSets[name], "no shareset \(name): run scripts/capture-nft-fixtures")
        let family: IPAddress.Family = name.hasPrefix("chosen4") ? .ipv4 : .ipv6
        #expect(Ownership.shareSet(group: 1, family: family) == name)
        #expect(Ownership.shareSetGroup(name)?.group == 1 && Ownership.shareSetGroup(name)?.family == family)
        let ours = try #require(
            NFTablesEncodingTests.messages(
                try NFTablesRequests.batch(
                    [
                        NFTablesRequests.newShareSet(
                            table: NFTFixtures.table, group: 1, family: family, timeoutMilliseconds: 10_000)
                    ], seq: 1)
            ).first { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWSET) }
        ).bytes
        #expect(hex(ShareEncodingTests.normalized(ours, like: nft)) == hex(withoutSeqAndPid(nft)))
    }

    static func plan(_ text: String, direction: Direction = .both) throws -> FilterPlan {
        try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: direction,
                spec: FilterSpec(mix: try ConnectionMix.parse(text)), server: .remote))
    }

    /// Three sets per family (two groups and passed); in the requests' chain the draws group by
    /// group and then passed, all before every fault rule; each fault rule looks up its group's set.
    @Test func installBatchOfAMix() throws {
        let plan = try Self.plan("30%:reject,10%:hang")
        let messages = NFTablesEncodingTests.messages(try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 1, seq: 1))
        let sets = messages.filter { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWSET) }
        #expect(sets.count == 1 + 6)
        let output = messages.filter { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWRULE) }
            .compactMap { NFTablesReplies.listing(ofRuleMessage: $0.bytes) }
            .filter { $0.contains("inet netfault-x output") }
        let adds = output.compactMap { l in ["set chosen4 ", "set chosen4_2 ", "set passed4 ", "set chosen6 ",
            "set chosen6_2 ", "set passed6 "].first { l.contains("dynset add reg_key 1 " + $0) } }
        #expect(adds == ["set chosen4 ", "set chosen6 ", "set chosen4_2 ", "set chosen6_2 ", "set passed4 ",
            "set passed6 "], "\(adds)")
        #expect(output.prefix(6).allSatisfy { $0.contains("dynset") })
        #expect(output.dropFirst(6).allSatisfy { !$0.contains("dynset") })
        let resets = plan.rules.filter { $0.verdict == .reset }.map(\.nftSyntax)
        let drops = plan.rules.filter { $0.verdict == .drop }.map(\.nftSyntax)
        #expect(!resets.isEmpty && resets.allSatisfy { $0.contains("@chosen4 ") || $0.contains("@chosen6 ") })
        #expect(!drops.isEmpty && drops.allSatisfy { $0.contains("@chosen4_2 ") || $0.contains("@chosen6_2 ") })
    }

    /// status reads the mix back from the kernel's listing: each rule as the plan made it.
    @Test func mixReadsBack() throws {
        let plan = try Self.plan("30%:reject,10%:hang")
        let messages = NFTablesEncodingTests.messages(try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 1, seq: 1))
            .filter { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWRULE) }
        let rules = try messages.map { m in
            try #require(NFTablesReplies.parsedRule(NetlinkMessage.parse(m.bytes)[0]) { r in
                NFTablesReplies.typedExpressions(r)
            }).compactMap { $0 }
        }
        let draws = plan.share?.rules ?? []
        #expect(rules.count == draws.count + plan.rules.count)
        for (r, want) in zip(rules, draws) {
            #expect(ShareRule(hook: want.hook.rawValue, expressions: r, comment: want.comment) == want)
        }
        for (r, want) in zip(rules.dropFirst(draws.count), plan.rules) {
            #expect(FilterRule(hook: want.hook.rawValue, expressions: r, comment: want.comment) == want)
        }
    }
}
