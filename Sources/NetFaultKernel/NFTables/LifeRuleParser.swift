import CNFTables
import Glibc
import NetFaultCore

// Reading --reset-after, --hang-after and --limit-data rules back (status prints them in nft's
// language): the candidate is rebuilt from what the expressions name, then compared whole
// without the batch's set ids, so nothing but netfault's own shapes is taken.

extension TimerStart {
    init?(hook chain: String, expressions: [NFTExpression], comment: String) {
        guard let hook = FilterRule.Hook(rawValue: chain), let add = expressions.last?.dynset,
            let family = IPAddress.Family.allCases.first(where: {
                Ownership.timerSet(young: false, family: $0) == add.set
            })
        else { return nil }
        var reader = ExpressionReader(expressions)
        var peer: IPPrefix?
        _ = reader.metaEquals(NFT_META_L4PROTO)
        if let proto = reader.metaEquals(NFT_META_NFPROTO), let p = reader.peer(proto: proto) { peer = p.prefix }
        let candidate = TimerStart(hook: hook, peer: peer, family: family, comment: comment)
        guard candidate.expressions.map(\.shape) == expressions.map(\.shape) else { return nil }
        self = candidate
    }
}

extension LifeRule {
    init?(hook chain: String, expressions: [NFTExpression], comment: String) {
        guard let hook = FilterRule.Hook(rawValue: chain), let (family, kind) = Self.kind(expressions),
            let verdict = Self.verdict(expressions.last)
        else { return nil }
        var reader = ExpressionReader(expressions)
        guard reader.metaEquals(NFT_META_L4PROTO) == [FilterRule.tcp] else { return nil }
        var peer: IPPrefix?
        if let proto = reader.metaEquals(NFT_META_NFPROTO) {
            guard let p = reader.peer(proto: proto) else { return nil }
            peer = p.prefix
        }
        guard let side = reader.portLookup() else { return nil }
        let chosen = expressions.contains {
            $0.lookup?.set == Ownership.shareSet(chosen: true, family: family)
        }
        for flags in [nil, FilterRule.Flags.notRst, .notSyn, .synOnly] {
            let candidate = LifeRule(
                hook: hook, side: side, peer: peer, flags: flags, family: family, chosen: chosen, kind: kind,
                verdict: verdict, comment: comment)
            if candidate.expressions.map(\.shape) == expressions.map(\.shape) {
                self = candidate
                return
            }
        }
        return nil
    }

    /// The family and kind the rule's set names: a budget's dynset, or a timer's `young` lookup.
    static func kind(_ expressions: [NFTExpression]) -> (IPAddress.Family, Kind)? {
        for family in IPAddress.Family.allCases {
            for e in expressions {
                if let d = e.dynset, d.set == Ownership.budgetSet(family), let q = d.quota {
                    return (family, .overBudget(q.bytes))
                }
                if e.lookup?.set == Ownership.timerSet(young: true, family: family) { return (family, .expired) }
            }
        }
        return nil
    }

    static func verdict(_ last: NFTExpression?) -> Verdict? {
        switch last {
        case .reject?: .reset
        case .immediate(let i)? where i.value == .verdict(NF_DROP): .drop
        case .payloadWrite?: .resetReceiver
        default: nil
        }
    }
}

extension SliceRule {
    init?(hook chain: String, expressions: [NFTExpression], comment: String) {
        guard let hook = FilterRule.Hook(rawValue: chain), case .exthdrWrite? = expressions.last,
            expressions.count >= 2, case .immediate(let i) = expressions[expressions.count - 2],
            case .data(let value) = i.value, value.count == 2
        else { return nil }
        let bytes = UInt16(value[0]) << 8 | UInt16(value[1])
        var reader = ExpressionReader(expressions)
        var peer: IPPrefix?
        _ = reader.metaEquals(NFT_META_L4PROTO)
        if let proto = reader.metaEquals(NFT_META_NFPROTO), let p = reader.peer(proto: proto) { peer = p.prefix }
        let chosen = IPAddress.Family.allCases.first { f in
            expressions.contains { $0.lookup?.set == Ownership.shareSet(chosen: true, family: f) }
        }
        let candidate = SliceRule(hook: hook, peer: peer, chosen: chosen, bytes: bytes, comment: comment)
        guard candidate.expressions.map(\.shape) == expressions.map(\.shape) else { return nil }
        self = candidate
    }
}

extension NFTablesReplies {
    /// A connection-life rule in nft's language; nil for any other rule.
    static func lifeSyntax(_ chain: String, _ typed: [NFTExpression?], _ comment: String) -> String? {
        guard !typed.contains(where: { $0 == nil }) else { return nil }
        let e = typed.compactMap { $0 }
        return TimerStart(hook: chain, expressions: e, comment: comment)?.nftSyntax
            ?? LifeRule(hook: chain, expressions: e, comment: comment)?.nftSyntax
            ?? SliceRule(hook: chain, expressions: e, comment: comment)?.nftSyntax
    }
}
