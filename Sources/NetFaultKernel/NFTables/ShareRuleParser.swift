import CNFTables
import Glibc
import NetFaultCore

extension ShareRule {
    /// The --connections draw `expressions` write for a chain named `hook`; nil for any other
    /// shape. The candidate is rebuilt from the set it adds to and its draw, then compared whole
    /// (without the batch's set ids, which the kernel does not list back).
    init?(hook chain: String, expressions: [NFTExpression], comment: String) {
        guard let hook = FilterRule.Hook(rawValue: chain), let add = expressions.last?.dynset,
            let (group, family) = Ownership.shareSetGroup(add.set)
        else { return nil }
        // A mix's draws skip every group's set and passed: all the inverted lookups but none.
        let unseen = expressions.filter { $0.lookup.map { $0.flags & UInt32(NFT_LOOKUP_F_INV.rawValue) != 0 } == true }
        let groups = unseen.count > 2 ? unseen.count - 1 : nil
        var draw: ConnectionShare?
        let scope = group != nil ? SocketScope(reading: expressions) : nil
        if group != nil, let i = expressions.firstIndex(where: { $0.numgen != nil }) {
            guard let ng = expressions[i].numgen, i + 1 < expressions.count else { return nil }
            if ng.type == NFT_NG_INCREMENTAL.rawValue {
                guard ng.modulus >= 1 else { return nil }
                draw = .every(ng.modulus)
            } else {
                guard i + 2 < expressions.count, let c = expressions[i + 2].cmp, c.data.count == 4 else { return nil }
                let threshold = c.data.reduce(0) { $0 << 8 | UInt32($1) }
                // Parts per million back to a percentage (10,000 ppm is 1%).
                draw = .percent(Percent(Double(threshold) / 10_000))
            }
        }
        var reader = ExpressionReader(expressions)
        var peer: IPPrefix?
        _ = reader.metaEquals(NFT_META_L4PROTO)
        if let proto = reader.metaEquals(NFT_META_NFPROTO), let p = reader.peer(proto: proto) { peer = p.prefix }
        let candidate = ShareRule(
            hook: hook, peer: peer, family: family, draw: draw, scope: scope, comment: comment,
            group: group == 0 ? nil : group, groups: groups)
        guard candidate.chooses == (group != nil), candidate.expressions.map(\.shape) == expressions.map(\.shape)
        else { return nil }
        self = candidate
    }
}

extension SocketScope {
    /// The scope a draw's expressions compare the socket with (a cgroup's path is not in the
    /// rule: it reads back empty); nil when they compare none.
    init?(reading expressions: [NFTExpression]) {
        for (e, next) in zip(expressions, expressions.dropFirst()) {
            guard let c = next.cmp else { continue }
            if let m = e.meta, m.key == NFT_META_SKUID.rawValue, c.data.count == 4 {
                self = .uid(c.data.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                return
            }
            if let s = e.socket, s.key == NFT_SOCKET_CGROUPV2.rawValue, let level = s.level, c.data.count == 8 {
                let id = c.data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                self = .cgroup(CgroupScope(path: "", id: id, level: level))
                return
            }
        }
        return nil
    }
}

extension NFTExpression {
    /// What a rule's shape is made of: without the batch's set ids and the counter's values,
    /// which the kernel lists back differently from what was sent.
    var shape: NFTExpression {
        guard case .counter = self else { return withoutSetID }
        return .counter(.init())
    }
}
