import CNFTables
import CNetlink
import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// Fixtures/nft-rules.txt: what nft 1.0.6 sent for a table, its chains and each rule shape.
struct NFTFixtures {
    struct Rule {
        let name: String
        let hook: String
        let bytes: [UInt8]
        let syntax: String
        /// `nft --debug=netlink`'s listing, one trimmed line per entry.
        let listing: [String]
    }

    let table: [UInt8]
    let chains: [String: [UInt8]]
    let set: [UInt8]
    let elements: [UInt8]
    let rules: [String: Rule]
    /// --connections' sets (shareset lines), by name.
    var shareSets: [String: [UInt8]] = [:]

    static let table = "netfault-nf-fixture"

    static let loaded: NFTFixtures = {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil),
            let text = try? String(contentsOf: dir.appendingPathComponent("nft-rules.txt"), encoding: .utf8)
        else { return NFTFixtures(table: [], chains: [:], set: [], elements: [], rules: [:]) }
        var table: [UInt8] = [], chains: [String: [UInt8]] = [:], rules: [String: Rule] = [:]
        var set: [UInt8] = [], elements: [UInt8] = [], shareSets: [String: [UInt8]] = [:]
        var current: (name: String, hook: String, bytes: [UInt8], syntax: String, listing: [String])?
        func finish() {
            if let c = current {
                rules[c.name] = Rule(name: c.name, hook: c.hook, bytes: c.bytes, syntax: c.syntax, listing: c.listing)
            }
            current = nil
        }
        for line in text.split(separator: "\n").map(String.init) where !line.hasPrefix("#") {
            if line.hasPrefix(" ") {
                current?.listing.append(line.trimmingCharacters(in: .whitespaces))
                continue
            }
            finish()
            // The syntax comes last: it may itself contain '|' ("tcp flags & (syn | ack)").
            let f = line.split(separator: "|", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
            switch f.first {
            case "table": table = hexBytes(f[1])
            case "chain": chains[f[1]] = hexBytes(f[2])
            case "set": set = hexBytes(f[1])
            case "elements": elements = hexBytes(f[2])
            case "shareset": shareSets[f[1]] = hexBytes(f[2])
            case "rule" where f.count == 5: current = (f[1], f[2], hexBytes(f[3]), f[4], [])
            default: break
            }
        }
        finish()
        return NFTFixtures(
            table: table, chains: chains, set: set, elements: elements, rules: rules, shareSets: shareSets)
    }()
}

@Suite struct NFTablesEncodingTests {
    static func peer(_ s: String) -> IPPrefix { try! IPPrefix.parse(s) }
    static let c = "netfault nf-fixture: "

    /// The FilterRule behind each fixture: its nftSyntax must be the fixture's command.
    static let rules = plainRules.merging(ShareEncodingTests.chosenRules) { a, _ in a }
    static let plainRules: [String: FilterRule] = [
        "blackhole_any": FilterRule(
            hook: .output, side: .destination, verdict: .drop, comment: c + "blackhole"),
        "blackhole_any_input": FilterRule(
            hook: .input, side: .source, verdict: .drop, comment: c + "blackhole"),
        "blackhole_v4_host": FilterRule(
            hook: .output, side: .destination, peer: peer("127.0.0.1"), verdict: .drop,
            comment: c + "blackhole"),
        "blackhole_v4_prefix8": FilterRule(
            hook: .output, side: .destination, peer: peer("10.0.0.0/8"), verdict: .drop,
            comment: c + "blackhole"),
        "blackhole_v4_prefix24_input": FilterRule(
            hook: .input, side: .source, peer: peer("192.168.1.0/24"), verdict: .drop,
            comment: c + "blackhole"),
        "blackhole_v6_host": FilterRule(
            hook: .output, side: .destination, peer: peer("::1"), verdict: .drop, comment: c + "blackhole"),
        "blackhole_v6_host_input": FilterRule(
            hook: .input, side: .source, peer: peer("2001:db8::7"), verdict: .drop, comment: c + "blackhole"
        ),
        "reject_any": FilterRule(
            hook: .output, side: .destination, flags: .synOnly, verdict: .reset, comment: c + "reject"),
        "reject_v4_host": FilterRule(
            hook: .output, side: .destination, peer: peer("127.0.0.1"), flags: .synOnly, verdict: .reset,
            comment: "netfault nf-1: reject"),
        "reject_v6_prefix32": FilterRule(
            hook: .output, side: .destination, peer: peer("2001:db8::/32"), flags: .synOnly,
            verdict: .reset, comment: c + "reject"),
        "reset_any": FilterRule(
            hook: .output, side: .destination, flags: .notRst, verdict: .reset, comment: c + "reset"),
        "reset_no_flags": FilterRule(
            hook: .output, side: .destination, verdict: .reset, comment: c + "reset"),
        "reset_v6_host": FilterRule(
            hook: .output, side: .destination, peer: peer("::1"), flags: .notRst, verdict: .reset,
            comment: c + "reset"),
        "reset_v4_host_input": FilterRule(
            hook: .input, side: .source, peer: peer("127.0.0.1"), flags: .notRst, verdict: .reset,
            comment: c + "reset"),
        "reset_v4_prefix10": FilterRule(
            hook: .output, side: .destination, peer: peer("10.64.0.0/10"), flags: .notRst, verdict: .reset,
            comment: c + "reset"),
        "reset_v6_prefix33_input": FilterRule(
            hook: .input, side: .source, peer: peer("2001:db8::/33"), flags: .notRst, verdict: .reset,
            comment: c + "reset"),
        "hang_any": FilterRule(
            hook: .output, side: .destination, flags: .notSyn, verdict: .drop, comment: c + "hang"),
        "hang_any_input": FilterRule(
            hook: .input, side: .source, flags: .notSyn, verdict: .drop, comment: c + "hang"),
        "hang_v6_host": FilterRule(
            hook: .output, side: .destination, peer: peer("::1"), flags: .notSyn, verdict: .drop,
            comment: c + "hang"),
        "hang_v4_prefix31_input": FilterRule(
            hook: .input, side: .source, peer: peer("10.1.2.0/31"), flags: .notSyn, verdict: .drop,
            comment: c + "hang"),
        "loss_any": FilterRule(
            hook: .output, side: .destination, lossThreshold: 50_000, verdict: .drop,
            comment: c + "loss-nft 5%"),
        "loss_any_input": FilterRule(
            hook: .input, side: .source, lossThreshold: 1, verdict: .drop, comment: c + "loss-nft 0.0001%"),
        "loss_v4_prefix10_input": FilterRule(
            hook: .input, side: .source, peer: peer("10.64.0.0/10"), lossThreshold: 999_999, verdict: .drop,
            comment: c + "loss-nft 99.9999%"),
        "loss_v6_prefix64": FilterRule(
            hook: .output, side: .destination, peer: peer("2001:db8::/64"), lossThreshold: 250_000,
            verdict: .drop, comment: c + "reject, loss-nft 25%"),
        "loss_v6_prefix12": FilterRule(
            hook: .output, side: .destination, peer: peer("2000::/12"), lossThreshold: 500_000,
            verdict: .drop, comment: c + "loss-nft 50%"),
        "steer_any": .steer(device: "lo", band: 2, side: .destination, peer: nil, comment: c + "delay 100ms"),
        "steer_v4_host_source": .steer(
            device: "eth0", band: 16, side: .source, peer: peer("10.0.0.5"), comment: c + "delay 100ms"),
        "steer_v6_prefix": .steer(
            device: "veth-a", band: 15, side: .destination, peer: peer("2001:db8::/48"), comment: c + "loss 5%"),
        "steer_connect_syn": .steer(
            device: "eth0", band: 3, side: .destination, peer: nil, comment: c + "connect-delay 300ms",
            flags: .synOnly),
        "steer_connect_synack_v4": .steer(
            device: "lo", band: 3, side: .source, peer: peer("127.0.0.1"), comment: c + "connect-delay 300ms",
            flags: .synAck),
        "steer_close_fin_v6": .steer(
            device: "lo", band: 4, side: .source, peer: peer("::1"), comment: c + "slow-close 1s", flags: .fin)
    ]

    static let names = rules.keys.sorted()

    /// The messages of a batch, each with its own bytes.
    static func messages(_ batch: [UInt8]) -> [(msg: NetlinkMessage, bytes: [UInt8])] {
        var out: [(NetlinkMessage, [UInt8])] = []
        var off = 0
        while off + nlmsgHeaderSize <= batch.count {
            let len = Int(batch.le32(at: off))
            let bytes = Array(batch[off..<(off + len)])
            out.append((NetlinkMessage.parse(bytes)[0], bytes))
            off += (len + 3) & ~3
        }
        return out
    }

    /// The payloads of a list of attributes of one type (Attributes keeps one per type).
    static func attributeList(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var off = 0
        while off + 4 <= bytes.count {
            let len = Int(bytes.le16(at: off))
            guard len >= 4, off + len <= bytes.count else { break }
            out.append(Array(bytes[(off + 4)..<(off + len)]))
            off += (len + 3) & ~3
        }
        return out
    }

    static func type(_ t: nf_tables_msg_types) -> UInt16 { NFTablesRequests.messageType(t) }

    /// The NEWRULE message netfault sends for one rule.
    static func encodedRule(_ rule: FilterRule) throws -> [UInt8] {
        let plan = FilterPlan(table: NFTFixtures.table, ports: [6379], rules: [rule])
        let batch = try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 10_000, seq: 1000)
        return try #require(messages(batch).first { $0.msg.type == type(NFT_MSG_NEWRULE) }).bytes
    }

    @Test func everyFixtureHasARule() {
        #expect(
            Set(NFTFixtures.loaded.rules.keys)
                == Set(Self.names).union(ShareEncodingTests.shareRules.keys)
                .union(LifeEncodingTests.starts.keys).union(LifeEncodingTests.rules.keys)
                .union(LifeEncodingTests.slices.keys))
        #expect(NFTFixtures.loaded.rules.count >= 20)
    }

    @Test(arguments: names)
    func ruleMatchesNft(_ name: String) throws {
        let rule = try #require(Self.rules[name])
        let fixture = try #require(
            NFTFixtures.loaded.rules[name], "no fixture \(name): run scripts/capture-nft-fixtures")
        #expect(rule.nftSyntax == fixture.syntax)
        #expect(rule.hook.rawValue == fixture.hook)

        let ours = try Self.encodedRule(rule)
        // libnftnl's listing of our bytes is what `nft --debug=netlink` printed for its own.
        let listing = try #require(NFTablesReplies.listing(ofRuleMessage: ours))
        #expect(listing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == fixture.listing)

        // Byte for byte the same, but for seq/pid and the ack netfault asks and nft does not.
        let flags = ours.le16(at: 6)
        #expect(flags == fixture.bytes.le16(at: 6) | UInt16(NLM_F_ACK))
        var normalized = withoutSeqAndPid(ours)
        normalized[6] = fixture.bytes[6]; normalized[7] = fixture.bytes[7]
        #expect(hex(normalized) == hex(withoutSeqAndPid(fixture.bytes)))

        // And it reads back as the same rule.
        #expect(NFTablesReplies.filterRule(ofRuleMessage: ours) == rule)
    }

    @Test func tableMatchesNftButForTheOwnerFlag() throws {
        let nft = NFTFixtures.loaded.table
        try #require(!nft.isEmpty)
        let plain = try #require(
            Self.messages(NFTablesRequests.tableBatch(name: NFTFixtures.table, owner: false, seq: 7))
                .first { $0.msg.type == Self.type(NFT_MSG_NEWTABLE) }
        ).bytes
        var ours = withoutSeqAndPid(plain)
        // nft's `add table` sends NLM_F_REQUEST only; netfault refuses an existing table and asks an ack.
        #expect(ours.le16(at: 6) == UInt16(NLM_F_REQUEST | NLM_F_CREATE) | UInt16(NLM_F_EXCL | NLM_F_ACK))
        ours[6] = nft[6]; ours[7] = nft[7]
        #expect(hex(ours) == hex(withoutSeqAndPid(nft)))
    }

    @Test(arguments: ["output", "input"])
    func chainMatchesNft(_ hook: String) throws {
        let nft = try #require(NFTFixtures.loaded.chains[hook])
        let rule = FilterRule(hook: .init(rawValue: hook)!, side: .destination, verdict: .drop, comment: "x")
        let plan = FilterPlan(table: NFTFixtures.table, ports: [1], rules: [rule])
        let batch = try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 1, seq: 1)
        let chain = try #require(Self.messages(batch).first { $0.msg.type == Self.type(NFT_MSG_NEWCHAIN) }).bytes
        var ours = withoutSeqAndPid(chain)
        #expect(ours.le16(at: 6) == nft.le16(at: 6) | UInt16(NLM_F_ACK))
        ours[6] = nft[6]; ours[7] = nft[7]
        #expect(hex(ours) == hex(withoutSeqAndPid(nft)))
    }

    @Test func installBatchFraming() throws {
        let rules = [Self.rules["reject_v4_host"]!, Self.rules["blackhole_any_input"]!, Self.rules["loss_any"]!]
        let plan = FilterPlan(table: "netfault-nf-1a2b3c", ports: [6379], rules: rules)
        let all = Self.messages(try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 5000, seq: 39)).map(\.msg)
        #expect(
            all.map(\.type) == [
                0x10, Self.type(NFT_MSG_NEWTABLE), Self.type(NFT_MSG_NEWSET), Self.type(NFT_MSG_NEWSETELEM),
                Self.type(NFT_MSG_NEWCHAIN), Self.type(NFT_MSG_NEWCHAIN),
                Self.type(NFT_MSG_NEWRULE), Self.type(NFT_MSG_NEWRULE), Self.type(NFT_MSG_NEWRULE), 0x11
            ])
        #expect(all.map(\.seq) == Array(39..<49))
        // The set and its element come right after the table (checked byte for byte below); the
        // rest as before.
        let msgs = [all[0], all[1]] + Array(all[4...])
        // Batch begin and end: AF_UNSPEC, version 0, res_id NFNL_SUBSYS_NFTABLES (big-endian); no ack.
        for m in [msgs.first!, msgs.last!] {
            #expect(Array(m.payload.prefix(4)) == [0, 0, 0, 10])
            #expect(m.flags == UInt16(NLM_F_REQUEST))
        }
        // Every object message: inet family, asks for an ack.
        for m in msgs.dropFirst().dropLast() {
            #expect(m.payload[0] == 1)  // NFPROTO_INET
            #expect(m.flags & (UInt16(NLM_F_REQUEST | NLM_F_ACK)) == UInt16(NLM_F_REQUEST | NLM_F_ACK))
        }
        let table = Attributes(msgs[1].payload.dropFirst(4))
        #expect(table.string(1) == "netfault-nf-1a2b3c")  // NFTA_TABLE_NAME
        #expect(table[2] == [0, 0, 0, 2])  // NFTA_TABLE_FLAGS: NFT_TABLE_F_OWNER, big-endian
        #expect(msgs[1].flags == UInt16(NLM_F_REQUEST | NLM_F_CREATE) | UInt16(NLM_F_EXCL | NLM_F_ACK))

        // Chains in hook order (output, input), as the plan lists them.
        for (m, (name, hooknum)) in zip(msgs[2...3], [("output", UInt8(3)), ("input", UInt8(1))]) {
            let a = Attributes(m.payload.dropFirst(4))
            #expect(a.string(1) == "netfault-nf-1a2b3c")  // NFTA_CHAIN_TABLE
            #expect(a.string(3) == name)  // NFTA_CHAIN_NAME
            #expect(a.string(7) == "filter")  // NFTA_CHAIN_TYPE
            #expect(a[5] == [0, 0, 0, 1])  // NFTA_CHAIN_POLICY: NF_ACCEPT
            let hook = Attributes(try #require(a[4]))  // NFTA_CHAIN_HOOK
            #expect(hook[1] == [0, 0, 0, hooknum])  // NFTA_HOOK_HOOKNUM: NF_INET_LOCAL_OUT / LOCAL_IN
            let priority = withUnsafeBytes(of: Ownership.chainPriority.bigEndian) { Array($0) }
            #expect(hook[2] == priority)  // NFTA_HOOK_PRIORITY
        }
        // Rules in plan order, appended, each in its hook's chain.
        for (m, rule) in zip(msgs[4...6], rules) {
            #expect(m.flags == UInt16(NLM_F_REQUEST | NLM_F_CREATE) | 0x800 | UInt16(NLM_F_ACK))  // NLM_F_APPEND
            let a = Attributes(m.payload.dropFirst(4))
            #expect(a.string(1) == "netfault-nf-1a2b3c")  // NFTA_RULE_TABLE
            #expect(a.string(2) == rule.hook.rawValue)  // NFTA_RULE_CHAIN
            let bytes = NetlinkRequest(type: m.type, flags: m.flags, payload: m.payload).bytes(seq: m.seq)
            #expect(NFTablesReplies.filterRule(ofRuleMessage: bytes) == rule)
        }
    }

    @Test func onlyTheChainsTheRulesUse() throws {
        let plan = FilterPlan(table: "t", ports: [1], rules: [Self.rules["blackhole_any_input"]!])
        let types = Self.messages(try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 1, seq: 1))
            .map(\.msg.type)
        #expect(types.filter { $0 == Self.type(NFT_MSG_NEWCHAIN) }.count == 1)
    }

    /// The set and its elements, in one batch as nft sends them: the same bytes but for seq,
    /// pid and the ack.
    @Test func setAndElementsMatchNft() throws {
        let f = NFTFixtures.loaded
        try #require(!f.set.isEmpty && !f.elements.isEmpty)
        let plan = FilterPlan(table: NFTFixtures.table, ports: [6379, 3306], rules: [])
        let msgs = Self.messages(try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 10_000, seq: 1))
        for (type, nft) in [(NFT_MSG_NEWSET, f.set), (NFT_MSG_NEWSETELEM, f.elements)] {
            let bytes = try #require(msgs.first { $0.msg.type == Self.type(type) }).bytes
            var ours = withoutSeqAndPid(bytes)
            #expect(ours.le16(at: 6) == nft.le16(at: 6) | UInt16(NLM_F_ACK))
            ours[6] = nft[6]; ours[7] = nft[7]
            #expect(hex(ours) == hex(withoutSeqAndPid(nft)))
        }
    }

    /// 10,000 ports: elements split over messages of a bounded size, all in the one batch.
    @Test func manyPortsInBoundedMessages() throws {
        let ports = (10_001...20_000).map { UInt16($0) }
        let plan = FilterPlan(table: "t", ports: ports, rules: [])
        let msgs = Self.messages(try NFTablesRequests.installBatch(plan, timeoutMilliseconds: 1000, seq: 1))
        let elements = msgs.filter { $0.msg.type == Self.type(NFT_MSG_NEWSETELEM) }
        #expect(elements.count == (ports.count + 63) / 64)
        #expect(elements.allSatisfy { $0.bytes.count <= NFTablesRequests.messageRoom })
        // Every port once: each element's key is the NFTA_DATA_VALUE inside its NFTA_SET_ELEM_KEY.
        var keys: [UInt16] = []
        for e in elements {
            let list = try #require(Attributes(e.msg.payload.dropFirst(4))[3])  // NFTA_SET_ELEM_LIST_ELEMENTS
            for element in Self.attributeList(list) {  // each an NFTA_LIST_ELEM
                let keyNest = try #require(Attributes(element)[1])  // NFTA_SET_ELEM_KEY
                let key = try #require(Attributes(keyNest)[1])  // NFTA_DATA_VALUE
                keys.append(UInt16(key[0]) << 8 | UInt16(key[1]))
            }
        }
        #expect(keys == ports)
    }

    @Test func deleteBatch() throws {
        let msgs = Self.messages(try NFTablesRequests.deleteBatch(table: "netfault-nf-1", seq: 9)).map(\.msg)
        #expect(msgs.map(\.type) == [0x10, Self.type(NFT_MSG_DELTABLE), 0x11])
        #expect(msgs.map(\.seq) == [9, 10, 11])
        #expect(msgs[1].flags == UInt16(NLM_F_REQUEST | NLM_F_ACK))
        #expect(msgs[1].payload[0] == 1)
        #expect(Attributes(msgs[1].payload.dropFirst(4)).string(1) == "netfault-nf-1")
    }

    @Test func dumpRequests() throws {
        let tables = try NFTablesRequests.getTables()
        #expect(tables.type == Self.type(NFT_MSG_GETTABLE))
        #expect(tables.flags == UInt16(NLM_F_REQUEST | NLM_F_DUMP))
        #expect(tables.payload == [1, 0, 0, 0])
        let rules = try NFTablesRequests.getRules(table: "netfault-nf-1")
        #expect(rules.type == Self.type(NFT_MSG_GETRULE))
        #expect(rules.flags == UInt16(NLM_F_REQUEST | NLM_F_DUMP))
        #expect(Attributes(rules.payload.dropFirst(4)).string(1) == "netfault-nf-1")
    }

    /// Every rule FilterPlanner makes encodes and reads back unchanged.
    @Test func plannerRulesRoundTrip() throws {
        let target = try Target.parse("redis")
        for action in FilterSpec.Action.allCases {
            let spec = FilterSpec(action: action)
            let plan = try #require(
                FilterPlanner.plan(
                    leaseID: "nf-1", target: target, peers: [Self.peer("10.64.0.0/10"), Self.peer("::1")],
                    direction: .both, spec: spec))
            for rule in plan.rules {
                #expect(NFTablesReplies.filterRule(ofRuleMessage: try Self.encodedRule(rule)) == rule)
            }
        }
    }
}
