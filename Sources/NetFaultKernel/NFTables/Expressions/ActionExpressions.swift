import CNFTables
import Glibc

// Expressions that count or end a rule.

extension NFTExpression {
    /// `counter pkts P bytes B`. Sent without values (as nft sends it); the kernel lists them.
    struct Counter: NFTExpressionKind {
        static let name = "counter"
        var packets: UInt64 = 0
        var bytes: UInt64 = 0

        init() {}

        func encode(_ e: OpaquePointer) {
            if packets != 0 { nftnl_expr_set_u64(e, attr(NFTNL_EXPR_CTR_PACKETS), packets) }
            if bytes != 0 { nftnl_expr_set_u64(e, attr(NFTNL_EXPR_CTR_BYTES), bytes) }
        }

        init(decoding e: OpaquePointer) {
            packets = ExprAttr.u64(e, NFTNL_EXPR_CTR_PACKETS)
            bytes = ExprAttr.u64(e, NFTNL_EXPR_CTR_BYTES)
        }
    }

    /// `reject type T code C`: the packet is dropped and its sender told (a TCP reset, an ICMP error).
    struct Reject: NFTExpressionKind {
        static let name = "reject"
        /// NFT_REJECT_TCP_RST, NFT_REJECT_ICMP_UNREACH, ...
        var type: UInt32
        var code: UInt8 = 0

        init(_ type: nft_reject_types, code: UInt8 = 0) { self.type = type.rawValue; self.code = code }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_REJECT_TYPE, type)
            nftnl_expr_set_u8(e, attr(NFTNL_EXPR_REJECT_CODE), code)
        }

        init(decoding e: OpaquePointer) {
            type = ExprAttr.u32(e, NFTNL_EXPR_REJECT_TYPE)
            code = nftnl_expr_get_u8(e, attr(NFTNL_EXPR_REJECT_CODE))
        }
    }
}
