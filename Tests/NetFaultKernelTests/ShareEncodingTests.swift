import CNFTables
import CNetlink
import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// --connections' sets and rules, byte for byte what nft 1.0.6 sent for the same syntax
/// (Fixtures/nft-rules.txt, from scripts/capture-nft-fixtures).
@Suite struct ShareEncodingTests {
    static func peer(_ s: String) -> IPPrefix { try! IPPrefix.parse(s) }
    static let c = "netfault nf-fixture: "

    /// Fault rules that take only the chosen connections (checked with the other FilterRules).
    static let chosenRules: [String: FilterRule] = [
        "reject_chosen_v4": FilterRule(
            hook: .output, side: .destination, flags: .synOnly, verdict: .reset,
            comment: c + "reject, connections 30%", chosen: .ipv4),
        "reject_chosen_v6_host": FilterRule(
            hook: .output, side: .destination, peer: peer("::1"), flags: .synOnly, verdict: .reset,
            comment: c + "reject, connections 30%", chosen: .ipv6),
        "hang_chosen_v4_input": FilterRule(
            hook: .input, side: .source, flags: .notSyn, verdict: .drop, comment: c + "hang, connections every:2",
            chosen: .ipv4),
        "blackhole_chosen_v6_input": FilterRule(
            hook: .input, side: .source, peer: peer("2001:db8::/33"), verdict: .drop,
            comment: c + "blackhole, connections 50%", chosen: .ipv6),
        "reset_chosen_v4_prefix": FilterRule(
            hook: .output, side: .destination, peer: peer("10.0.0.0/8"), flags: .notRst, verdict: .reset,
            comment: c + "reset, connections 1%", chosen: .ipv4),
        "loss_chosen_v6": FilterRule(
            hook: .output, side: .destination, lossThreshold: 50_000, verdict: .drop,
            comment: c + "loss-nft 5%, connections 30%", chosen: .ipv6),
        "steer_chosen_v4": .steer(
            device: "lo", band: 2, side: .source, peer: nil, comment: c + "delay 100ms, connections 30%",
            chosen: .ipv4),
        "mix_hang_second_v6_input": FilterRule(
            hook: .input, side: .source, flags: .notSyn, verdict: .drop, comment: c + "connections \(mix)",
            chosen: .ipv6, group: 1)
    ]
    static let mix = "30%:reject,10%:hang"

    /// The rules that draw.
    static let shareRules: [String: ShareRule] = [
        "choose_v4_random": ShareRule(
            hook: .output, peer: nil, family: .ipv4, draw: .percent(Percent(30)), comment: c + "connections 30%"),
        "pass_v4": ShareRule(hook: .output, peer: nil, family: .ipv4, draw: nil, comment: c + "connections 30%"),
        "choose_v6_every_input": ShareRule(
            hook: .input, peer: nil, family: .ipv6, draw: .every(3), comment: c + "connections every:3"),
        "pass_v6_input": ShareRule(
            hook: .input, peer: nil, family: .ipv6, draw: nil, comment: c + "connections every:3"),
        "choose_v4_uid": ShareRule(
            hook: .output, peer: nil, family: .ipv4, draw: nil, scope: .uid(65534),
            comment: c + "reject, scope uid 65534"),
        "choose_v6_cgroup": ShareRule(
            hook: .output, peer: nil, family: .ipv6, draw: nil, scope: fixtureCgroup,
            comment: c + "hang, scope cgroup"),
        "choose_v4_host_cgroup_every": ShareRule(
            hook: .output, peer: peer("10.0.0.0/8"), family: .ipv4, draw: .every(2), scope: fixtureCgroup,
            comment: c + "reject, connections every:2, scope cgroup"),
        // A mix's draws: each skips both groups' sets and passed; the second draws 10/70 of the rest.
        "mix_choose_v4_first": ShareRule(
            hook: .output, peer: nil, family: .ipv4, draw: .percent(Percent(30)), comment: c + "connections \(mix)",
            groups: 2),
        "mix_choose_v4_second": ShareRule(
            hook: .output, peer: nil, family: .ipv4, draw: .percent(Percent(14.2857)),
            comment: c + "connections \(mix)", group: 1, groups: 2),
        "mix_pass_v6_input": ShareRule(
            hook: .input, peer: nil, family: .ipv6, draw: nil, comment: c + "connections \(mix)", groups: 2)
    ]

    /// The cgroup the capture made (its id is in the fixture's syntax; nft printed it so). The
    /// path does not travel in the rule, so a rule read back has none.
    static let fixtureCgroup: SocketScope = {
        let syntax = NFTFixtures.loaded.rules["choose_v6_cgroup"]?.syntax ?? ""
        let id = syntax.split(separator: " ").split(separator: "cgroupv2").dropFirst().first?.dropFirst(2).first
        return .cgroup(CgroupScope(path: "", id: id.flatMap { UInt64($0) } ?? 0, level: 1))
    }()

    /// Our message with the fields nft's differs in by design (seq, pid, the ack) made nft's.
    static func normalized(_ ours: [UInt8], like nft: [UInt8]) -> [UInt8] {
        var n = withoutSeqAndPid(ours)
        n[6] = nft[6]; n[7] = nft[7]
        return n
    }

    @Test(arguments: shareRules.keys.sorted())
    func shareRuleMatchesNft(_ name: String) throws {
        let rule = try #require(Self.shareRules[name])
        let fixture = try #require(NFTFixtures.loaded.rules[name], "no fixture \(name): run scripts/capture-nft-fixtures")
        #expect(rule.nftSyntax == fixture.syntax)
        #expect(rule.hook.rawValue == fixture.hook)
        let batch = try NFTablesRequests.batch([NFTablesRequests.newRule(table: NFTFixtures.table, rule)], seq: 9)
        let ours = try #require(NFTablesEncodingTests.messages(batch).first {
            $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWRULE)
        }).bytes
        let listing = try #require(NFTablesReplies.listing(ofRuleMessage: ours))
        #expect(listing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == fixture.listing)
        #expect(ours.le16(at: 6) == fixture.bytes.le16(at: 6) | UInt16(NLM_F_ACK))
        #expect(hex(Self.normalized(ours, like: fixture.bytes)) == hex(withoutSeqAndPid(fixture.bytes)))
        // It reads back as the same draw (status prints its nft syntax), and as no fault rule.
        let parsed = try #require(NFTablesReplies.parsedRule(NetlinkMessage.parse(ours)[0]) { r in
            NFTablesReplies.typedExpressions(r)
        })
        let expressions = parsed.compactMap { $0 }
        #expect(ShareRule(hook: rule.hook.rawValue, expressions: expressions, comment: rule.comment) == rule)
        // As the kernel lists it back after some connections: with its counter's values.
        let counted = expressions.map { e -> NFTExpression in
            guard case .counter(var c) = e else { return e }
            c.packets = 3; c.bytes = 180
            return .counter(c)
        }
        #expect(ShareRule(hook: rule.hook.rawValue, expressions: counted, comment: rule.comment) == rule)
        #expect(FilterRule(hook: rule.hook.rawValue, expressions: expressions, comment: rule.comment) == nil)
        #expect(ShareRule(hook: rule.hook.rawValue, expressions: Array(expressions.dropLast()), comment: "") == nil)
    }

    /// A plan drawing in both families makes the four sets nft makes (10 s timeout, as captured).
    @Test(arguments: ["chosen4", "passed4", "chosen6", "passed6"])
    func shareSetMatchesNft(_ name: String) throws {
        let nft = try #require(NFTFixtures.loaded.shareSets[name], "no shareset \(name) in the fixtures")
        let plan = try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .both,
                spec: FilterSpec(action: .reject, connections: .every(3))))
        let batch = try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 10_000, seq: 1)
        let sets = NFTablesEncodingTests.messages(batch).filter {
            $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWSET)
        }
        #expect(sets.count == 5)
        let table = Array("netfault-x".utf8), fixtureTable = Array(NFTFixtures.table.utf8)
        let ours = try #require(sets.first { hex($0.bytes).contains(hex(Array(name.utf8))) }).bytes
        // The same bytes once the table's name is the fixture's (its length changes the lengths).
        let renamed = try #require(
            NFTablesEncodingTests.messages(
                try NFTablesRequests.batch(
                    [
                        NFTablesRequests.newShareSet(
                            table: NFTFixtures.table, chosen: name.hasPrefix("chosen"),
                            family: name.hasSuffix("4") ? .ipv4 : .ipv6, timeoutMilliseconds: 10_000)
                    ], seq: 1)
            ).first { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWSET) }
        ).bytes
        #expect(hex(ours).contains(hex(table)) && !hex(ours).contains(hex(fixtureTable)))
        #expect(hex(Self.normalized(renamed, like: nft)) == hex(withoutSeqAndPid(nft)))
    }

    /// In the install batch the draws come before every fault rule, in the requests' chain.
    @Test func drawsComeFirst() throws {
        let plan = try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .both,
                spec: FilterSpec(action: .hang, connections: .percent(Percent(30))), server: .remote))
        let rules = NFTablesEncodingTests.messages(try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 1, seq: 1))
            .filter { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWRULE) }
            .compactMap { NFTablesReplies.listing(ofRuleMessage: $0.bytes) }
        #expect(rules.count == 4 + 4)
        #expect(rules.prefix(4).allSatisfy { $0.contains("dynset add") })
        #expect(rules.dropFirst(4).allSatisfy { $0.contains("set chosen") && !$0.contains("dynset") })
    }

    /// A held lease (serve) renews a 10 s timeout; its draws keep theirs for a day, or a drawn
    /// connection would be drawn out after 10 s. The lease's ports keep the short one.
    @Test func heldLeaseDrawsOutliveItsRenewals() throws {
        let plan = try #require(
            FilterPlanner.plan(
                leaseID: "x", target: try Target.parse("redis"), peers: [], direction: .toServer,
                spec: FilterSpec(action: .hang, connections: .percent(Percent(30)))))
        func u64(_ v: UInt64) -> String { hex(withUnsafeBytes(of: v.bigEndian) { Array($0) }) }
        let messages = NFTablesEncodingTests.messages(
            try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 10_010, lotMilliseconds: 86_400_010, seq: 1))
        let shareSets = messages.filter { m in
            m.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWSET)
                && ["chosen", "passed"].contains { hex(m.bytes).contains(hex(Array($0.utf8))) }
        }
        #expect(shareSets.count == 4)
        #expect(shareSets.allSatisfy { hex($0.bytes).contains(u64(86_400_010)) && !hex($0.bytes).contains(u64(10_010)) })
        let ports = messages.filter { $0.msg.type == NFTablesEncodingTests.type(NFT_MSG_NEWSETELEM) }
        #expect(!ports.isEmpty && ports.allSatisfy { hex($0.bytes).contains(u64(10_010)) })
    }
}
