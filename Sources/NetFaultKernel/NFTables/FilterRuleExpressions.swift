import CNFTables
import Glibc
import NetFaultCore

/// A FilterRule as nf_tables expressions, in the order and shape nft 1.0.6 emits for its
/// `nftSyntax`, and back: `FilterRule(hook:expressions:comment:)` reads only that shape.
extension FilterRule {
    typealias E = NFTExpression
    static let tcp: UInt8 = 6  // IPPROTO_TCP
    /// TCP flags (the flags byte is at offset 13 of the header).
    static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, ack: UInt8 = 0x10

    var expressions: [NFTExpression] {
        var out: [E] = []
        if let device {
            // oifname "DEV": the name padded with zeros to IFNAMSIZ, as nft compares it.
            let name = Array(device.utf8.prefix(Int(IFNAMSIZ) - 1))
            out += Self.metaEquals(NFT_META_OIFNAME, name + [UInt8](repeating: 0, count: Int(IFNAMSIZ) - name.count))
        }
        out += Self.metaEquals(NFT_META_L4PROTO, [Self.tcp])
        if let peer { out += Self.peerMatch(peer, side: side) }
        // tcp dport|sport @lease
        out.append(.payload(.init(base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: side == .destination ? 2 : 0, length: 2)))
        out.append(.lookup(.init(set: Ownership.leaseSet, setID: Ownership.leaseSetID)))
        if let flags { out += Self.flagsMatch(flags) }
        out += chosenMatch
        if let lossThreshold { out += Self.lossDraw(below: lossThreshold) }
        out.append(.counter(.init()))
        out += verdictExpressions
        return out
    }

    /// `meta KEY VALUE`: a load and an equality.
    static func metaEquals(_ key: nft_meta_keys, _ value: [UInt8]) -> [NFTExpression] {
        [.meta(.init(key: key)), .cmp(.init(NFT_CMP_EQ, value))]
    }

    /// The header offset of an address: IPv4 saddr 12, daddr 16; IPv6 saddr 8, daddr 24.
    static func addressOffset(v4: Bool, side: PortMatch.Side) -> UInt32 {
        switch (v4, side) {
        case (true, .source): 12
        case (true, .destination): 16
        case (false, .source): 8
        case (false, .destination): 24
        }
    }

    /// ip/ip6 daddr|saddr PREFIX: inet needs the family check first (nft's dependency).
    static func peerMatch(_ peer: IPPrefix, side: PortMatch.Side) -> [NFTExpression] {
        let v4 = peer.family == .ipv4
        var out = metaEquals(NFT_META_NFPROTO, [UInt8(v4 ? NFPROTO_IPV4 : NFPROTO_IPV6)])
        let offset = addressOffset(v4: v4, side: side)
        if Int(peer.length) % 8 == 0 {
            // Byte-aligned: load only the prefix bytes and compare them.
            let n = Int(peer.length) / 8
            out.append(.payload(.init(base: NFT_PAYLOAD_NETWORK_HEADER, offset: offset, length: UInt32(n))))
            out.append(.cmp(.init(NFT_CMP_EQ, Array(peer.address.bytes.prefix(n)))))
        } else {
            // Not aligned: load the whole address, mask it, compare with the masked network.
            let size = UInt32(peer.address.bytes.count)
            out.append(.payload(.init(base: NFT_PAYLOAD_NETWORK_HEADER, offset: offset, length: size)))
            out.append(.bitwise(.init(mask: peer.mask, namingOp: false)))
            out.append(.cmp(.init(NFT_CMP_EQ, peer.address.bytes)))
        }
        return out
    }

    /// tcp flags & MASK == VALUE.
    static func flagsMatch(_ flags: Flags) -> [NFTExpression] {
        let (mask, value): (UInt8, UInt8) =
            switch flags {
            case .synOnly: (syn | ack, syn)
            case .notSyn: (syn, 0)
            case .notRst: (rst, 0)
            case .synAck: (syn | ack, syn | ack)
            case .fin: (fin, fin)
            }
        return [
            .payload(.init(base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: 13, length: 1)),
            .bitwise(.init(mask: [mask], namingOp: true)), .cmp(.init(NFT_CMP_EQ, [value]))
        ]
    }

    /// numgen random mod M < T: the draw is host-endian, the comparison big-endian.
    static func lossDraw(below threshold: UInt32) -> [NFTExpression] {
        [
            .numgen(.init(type: NFT_NG_RANDOM, modulus: FilterSpec.lossModulus)),
            .byteorder(.init(NFT_BYTEORDER_HTON, length: 4, size: 4)),
            .cmp(.init(NFT_CMP_LT, withUnsafeBytes(of: threshold.bigEndian) { Array($0) }))
        ]
    }

    var verdictExpressions: [NFTExpression] {
        switch verdict {
        case .drop: return [.immediate(.verdict(NF_DROP))]
        case .reset: return [.reject(.init(NFT_REJECT_TCP_RST))]
        case .steer:
            // meta priority set 6e66:BAND: an immediate into reg 1, then meta set from it.
            let priority = Ownership.steeringPriority(band: band ?? 0)
            return [
                .immediate(.data(withUnsafeBytes(of: priority) { Array($0) })),
                .meta(.init(key: NFT_META_PRIORITY, setting: true))
            ]
        }
    }
}
