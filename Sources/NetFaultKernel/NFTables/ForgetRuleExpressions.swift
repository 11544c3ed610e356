import CNFTables
import NetFaultCore

// A scope's forgetting (ForgetRule) as nf_tables expressions, in the order and shape nft 1.0.6
// emits for its nftSyntax, and read back from them.

extension ForgetRule {
    var expressions: [NFTExpression] {
        var out = FilterRule.synToServer(peer: peer, family: family)
        out += FilterRule.connectionKey(family, side: .destination)
        out.append(
            .dynset(.init(NFT_DYNSET_OP_DELETE, set: set, setID: Ownership.shareSetID(chosen: chosen, family: family))))
        return out
    }

    /// The forgetting `expressions` write for a chain named `hook`; nil for any other shape.
    init?(hook chain: String, expressions: [NFTExpression], comment: String) {
        guard let hook = FilterRule.Hook(rawValue: chain), let delete = expressions.last?.dynset,
            delete.op == NFT_DYNSET_OP_DELETE.rawValue,
            let (group, family) = Ownership.shareSetGroup(delete.set), group ?? 0 == 0
        else { return nil }
        var reader = ExpressionReader(expressions)
        var peer: IPPrefix?
        _ = reader.metaEquals(NFT_META_L4PROTO)
        if let proto = reader.metaEquals(NFT_META_NFPROTO), let p = reader.peer(proto: proto) { peer = p.prefix }
        let candidate = ForgetRule(hook: hook, peer: peer, family: family, chosen: group != nil, comment: comment)
        guard candidate.expressions.map(\.shape) == expressions.map(\.shape) else { return nil }
        self = candidate
    }
}
