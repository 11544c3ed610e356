import CNFTables
import Glibc
import NetFaultCore

// --connections as nf_tables expressions, in the order and shape nft 1.0.6 emits for the
// nftSyntax of FilterRule (with `chosen`) and ShareRule.

extension FilterRule {
    /// The four fields of a connection's key, in the request's direction: a request's source
    /// address and port, then its destination's; a response's swapped back.
    static func connectionKey(_ family: IPAddress.Family, side: PortMatch.Side) -> [NFTExpression] {
        let v4 = family == .ipv4
        let size: UInt32 = v4 ? 4 : 16
        // The registers nft picks for the fields (32-bit register numbers but for the first).
        let registers: [UInt32] = v4 ? [1, 9, 10, 11] : [1, 2, 13, 17]
        let client = addressOffset(v4: v4, side: side == .destination ? .source : .destination)
        let server = addressOffset(v4: v4, side: side == .destination ? .destination : .source)
        let (clientPort, serverPort): (UInt32, UInt32) = side == .destination ? (0, 2) : (2, 0)
        let fields: [(nft_payload_bases, UInt32, UInt32)] = [
            (NFT_PAYLOAD_NETWORK_HEADER, client, size), (NFT_PAYLOAD_TRANSPORT_HEADER, clientPort, 2),
            (NFT_PAYLOAD_NETWORK_HEADER, server, size), (NFT_PAYLOAD_TRANSPORT_HEADER, serverPort, 2)
        ]
        return zip(fields, registers).map { field, register in
            var p = NFTExpression.Payload(base: field.0, offset: field.1, length: field.2)
            p.register = register
            return .payload(p)
        }
    }

    /// `KEY [!=] @SET`: nft first checks the family when nothing before did (an address match).
    static func shareLookup(
        _ family: IPAddress.Family, side: PortMatch.Side, chosen: Bool, inverted: Bool = false
    ) -> [NFTExpression] {
        shareLookup(family, side: side, group: chosen ? 0 : nil, inverted: inverted)
    }

    /// The same for a mix's group `group` (nil: passed).
    static func shareLookup(
        _ family: IPAddress.Family, side: PortMatch.Side, group: Int?, inverted: Bool = false
    ) -> [NFTExpression] {
        var lookup = NFTExpression.Lookup(
            set: Ownership.shareSet(group: group, family: family),
            setID: Ownership.shareSetID(group: group, family: family))
        lookup.flags = inverted ? UInt32(NFT_LOOKUP_F_INV.rawValue) : 0
        return connectionKey(family, side: side) + [.lookup(lookup)]
    }

    /// `meta nfproto ipv4|ipv6`, which nft puts before the first address load of a rule.
    static func familyMatch(_ family: IPAddress.Family) -> [NFTExpression] {
        metaEquals(NFT_META_NFPROTO, [UInt8(family == .ipv4 ? NFPROTO_IPV4 : NFPROTO_IPV6)])
    }

    /// synToServerSyntax's expressions, which the draws, the forgetting and the timers' starts
    /// begin with: nft checks the family before the first address load when no address came before.
    static func synToServer(peer: IPPrefix?, family: IPAddress.Family) -> [NFTExpression] {
        var out = metaEquals(NFT_META_L4PROTO, [tcp])
        if let peer { out += peerMatch(peer, side: .destination) }
        out.append(.payload(.init(base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: 2, length: 2)))
        out.append(.lookup(.init(set: Ownership.leaseSet, setID: Ownership.leaseSetID)))
        out += flagsMatch(.synOnly)
        if peer == nil { out += familyMatch(family) }
        return out
    }

    /// The chosen-set match of a rule with --connections.
    var chosenMatch: [NFTExpression] {
        guard let chosen else { return [] }
        return (peer == nil ? Self.familyMatch(chosen) : []) + Self.shareLookup(chosen, side: side, group: group ?? 0)
    }
}

extension ShareRule {
    typealias E = NFTExpression

    var expressions: [NFTExpression] {
        var out = FilterRule.synToServer(peer: peer, family: family)
        for g in unseenIn { out += FilterRule.shareLookup(family, side: .destination, group: g, inverted: true) }
        if let scope { out += scope.expressions }
        switch draw {
        case .percent?: out += FilterRule.lossDraw(below: draw?.threshold ?? 0)
        case .every(let n)?:
            // numgen inc counts in host order and nft compares it so (no byteorder for ==).
            out.append(.numgen(.init(type: NFT_NG_INCREMENTAL, modulus: n)))
            out.append(.cmp(.init(NFT_CMP_EQ, withUnsafeBytes(of: n - 1) { Array($0) })))
        case nil: break
        }
        out.append(.counter(.init()))
        out += FilterRule.connectionKey(family, side: .destination)
        out.append(
            .dynset(
                .init(
                    NFT_DYNSET_OP_ADD, set: set,
                    setID: Ownership.shareSetID(group: chooses ? group ?? 0 : nil, family: family))))
        return out
    }
}

extension SocketScope {
    /// `meta skuid UID` or `socket cgroupv2 level L ID`: both compare in host order, as the
    /// kernel stores the socket's uid (32 bits) and cgroup id (64 bits) in the register.
    var expressions: [NFTExpression] {
        switch self {
        case .uid(let uid):
            [.meta(.init(key: NFT_META_SKUID)), .cmp(.init(NFT_CMP_EQ, withUnsafeBytes(of: uid) { Array($0) }))]
        case .cgroup(let c):
            [.socket(.init(cgroupLevel: c.level)), .cmp(.init(NFT_CMP_EQ, withUnsafeBytes(of: c.id) { Array($0) }))]
        }
    }
}
