import CNFTables
import Glibc

// Expressions that keep state per set element or write to the packet.

extension NFTExpression {
    /// `quota [over] BYTES bytes used CONSUMED`: with `over` it lets the rule go on once more
    /// than BYTES passed (the packet that crosses the line included). Inside a dynset it is
    /// each element's own.
    struct Quota: NFTExpressionKind, Hashable {
        static let name = "quota"
        var bytes: UInt64
        var consumed: UInt64 = 0
        /// NFT_QUOTA_F_INV (`over`).
        var flags: UInt32

        init(over bytes: UInt64) { self.bytes = bytes; flags = UInt32(NFT_QUOTA_F_INV.rawValue) }

        func encode(_ e: OpaquePointer) {
            nftnl_expr_set_u64(e, attr(NFTNL_EXPR_QUOTA_BYTES), bytes)
            nftnl_expr_set_u64(e, attr(NFTNL_EXPR_QUOTA_CONSUMED), consumed)
            ExprAttr.setU32(e, NFTNL_EXPR_QUOTA_FLAGS, flags)
        }

        init(decoding e: OpaquePointer) {
            bytes = ExprAttr.u64(e, NFTNL_EXPR_QUOTA_BYTES)
            consumed = ExprAttr.u64(e, NFTNL_EXPR_QUOTA_CONSUMED)
            flags = ExprAttr.u32(e, NFTNL_EXPR_QUOTA_FLAGS)
        }
    }

    /// `payload write reg R => LEN b @ BASE + OFFSET csum_type T csum_off O`: the register's
    /// bytes into the packet, its checksum fixed up.
    struct PayloadWrite: NFTExpressionKind {
        static let name = "payload"
        var register = NFTExpression.reg1
        var base: UInt32
        var offset: UInt32
        var length: UInt32
        /// NFT_PAYLOAD_CSUM_INET and the checksum's offset in the header (TCP's: 16).
        var checksumType: UInt32
        var checksumOffset: UInt32
        var checksumFlags: UInt32 = 0

        init(base: nft_payload_bases, offset: UInt32, length: UInt32, checksumOffset: UInt32) {
            self.base = base.rawValue; self.offset = offset; self.length = length
            checksumType = UInt32(NFT_PAYLOAD_CSUM_INET.rawValue); self.checksumOffset = checksumOffset
        }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_SREG, register)
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_BASE, base)
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset)
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_LEN, length)
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_CSUM_TYPE, checksumType)
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_CSUM_OFFSET, checksumOffset)
            // nft leaves the flags out when there are none.
            if checksumFlags != 0 { ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_FLAGS, checksumFlags) }
        }

        init(decoding e: OpaquePointer) {
            register = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_SREG)
            base = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_BASE)
            offset = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_OFFSET)
            length = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_LEN)
            checksumType = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_CSUM_TYPE)
            checksumOffset = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_CSUM_OFFSET)
            checksumFlags = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_FLAGS)
        }
    }

    /// `exthdr write tcpopt reg R => LEN b @ TYPE + OFFSET`: a TCP option's field set from the
    /// register (`tcp option maxseg size set N`: type 2, offset 2, 2 bytes).
    struct ExthdrWrite: NFTExpressionKind {
        static let name = "exthdr"
        var register = NFTExpression.reg1
        var type: UInt8
        var offset: UInt32
        var length: UInt32
        /// NFT_EXHDR_OP_TCPOPT.
        var op: UInt32 = 1

        init(tcpOption type: UInt8, offset: UInt32, length: UInt32) {
            self.type = type; self.offset = offset; self.length = length
        }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_EXTHDR_SREG, register)
            nftnl_expr_set_u8(e, attr(NFTNL_EXPR_EXTHDR_TYPE), type)
            ExprAttr.setU32(e, NFTNL_EXPR_EXTHDR_OFFSET, offset)
            ExprAttr.setU32(e, NFTNL_EXPR_EXTHDR_LEN, length)
            ExprAttr.setU32(e, NFTNL_EXPR_EXTHDR_OP, op)
        }

        init(decoding e: OpaquePointer) {
            register = ExprAttr.u32(e, NFTNL_EXPR_EXTHDR_SREG)
            type = nftnl_expr_get_u8(e, attr(NFTNL_EXPR_EXTHDR_TYPE))
            offset = ExprAttr.u32(e, NFTNL_EXPR_EXTHDR_OFFSET)
            length = ExprAttr.u32(e, NFTNL_EXPR_EXTHDR_LEN)
            op = ExprAttr.u32(e, NFTNL_EXPR_EXTHDR_OP)
        }
    }
}
