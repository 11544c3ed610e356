import CNFTables
import Glibc

// Expressions that compare or transform a register.

extension NFTExpression {
    /// `cmp OP reg R DATA`: the rule goes on only when the comparison holds.
    struct Cmp: NFTExpressionKind {
        static let name = "cmp"
        var register = NFTExpression.reg1
        /// NFT_CMP_EQ, NFT_CMP_LT, ...
        var op: UInt32
        var data: [UInt8]

        init(_ op: nft_cmp_ops, _ data: [UInt8]) { self.op = op.rawValue; self.data = data }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_CMP_SREG, register)
            ExprAttr.setU32(e, NFTNL_EXPR_CMP_OP, op)
            ExprAttr.setData(e, NFTNL_EXPR_CMP_DATA, data)
        }

        init(decoding e: OpaquePointer) {
            register = ExprAttr.u32(e, NFTNL_EXPR_CMP_SREG)
            op = ExprAttr.u32(e, NFTNL_EXPR_CMP_OP)
            data = ExprAttr.data(e, NFTNL_EXPR_CMP_DATA)
        }
    }

    /// `bitwise reg D = (reg S & MASK) ^ XOR`.
    struct Bitwise: NFTExpressionKind {
        static let name = "bitwise"
        var source = NFTExpression.reg1
        var destination = NFTExpression.reg1
        /// NFT_BITWISE_BOOL (0) when named; nft names it for a flags test but not for a prefix
        /// mask (the kernel's default is the same), and nil keeps that byte for byte.
        var op: UInt32?
        var mask: [UInt8]
        var xor: [UInt8]

        /// reg1 = reg1 & mask.
        init(mask: [UInt8], namingOp: Bool) {
            op = namingOp ? 0 : nil
            self.mask = mask
            xor = [UInt8](repeating: 0, count: mask.count)
        }

        /// reg1 = (reg1 & mask) ^ xor: sets bits (nft's `set` of a field narrower than its load).
        init(mask: [UInt8], xor: [UInt8]) {
            op = 0; self.mask = mask; self.xor = xor
        }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_BITWISE_SREG, source)
            ExprAttr.setU32(e, NFTNL_EXPR_BITWISE_DREG, destination)
            if let op { ExprAttr.setU32(e, NFTNL_EXPR_BITWISE_OP, op) }
            ExprAttr.setU32(e, NFTNL_EXPR_BITWISE_LEN, UInt32(mask.count))
            ExprAttr.setData(e, NFTNL_EXPR_BITWISE_MASK, mask)
            ExprAttr.setData(e, NFTNL_EXPR_BITWISE_XOR, xor)
        }

        init(decoding e: OpaquePointer) {
            source = ExprAttr.u32(e, NFTNL_EXPR_BITWISE_SREG)
            destination = ExprAttr.u32(e, NFTNL_EXPR_BITWISE_DREG)
            op = ExprAttr.isSet(e, NFTNL_EXPR_BITWISE_OP) ? ExprAttr.u32(e, NFTNL_EXPR_BITWISE_OP) : nil
            mask = ExprAttr.data(e, NFTNL_EXPR_BITWISE_MASK)
            xor = ExprAttr.data(e, NFTNL_EXPR_BITWISE_XOR)
        }
    }

    /// `byteorder reg D = hton|ntoh(reg S, SIZE, LEN)`.
    struct Byteorder: NFTExpressionKind {
        static let name = "byteorder"
        var source = NFTExpression.reg1
        var destination = NFTExpression.reg1
        /// NFT_BYTEORDER_HTON or NFT_BYTEORDER_NTOH.
        var op: UInt32
        var length: UInt32
        var size: UInt32

        init(_ op: nft_byteorder_ops, length: UInt32, size: UInt32) {
            self.op = op.rawValue; self.length = length; self.size = size
        }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_BYTEORDER_SREG, source)
            ExprAttr.setU32(e, NFTNL_EXPR_BYTEORDER_DREG, destination)
            ExprAttr.setU32(e, NFTNL_EXPR_BYTEORDER_OP, op)
            ExprAttr.setU32(e, NFTNL_EXPR_BYTEORDER_LEN, length)
            ExprAttr.setU32(e, NFTNL_EXPR_BYTEORDER_SIZE, size)
        }

        init(decoding e: OpaquePointer) {
            source = ExprAttr.u32(e, NFTNL_EXPR_BYTEORDER_SREG)
            destination = ExprAttr.u32(e, NFTNL_EXPR_BYTEORDER_DREG)
            op = ExprAttr.u32(e, NFTNL_EXPR_BYTEORDER_OP)
            length = ExprAttr.u32(e, NFTNL_EXPR_BYTEORDER_LEN)
            size = ExprAttr.u32(e, NFTNL_EXPR_BYTEORDER_SIZE)
        }
    }

    /// `lookup reg R set NAME`: the rule goes on only when the register's value is in the set.
    struct Lookup: NFTExpressionKind {
        static let name = "lookup"
        var register = NFTExpression.reg1
        var set: String
        /// The set's id in the batch that creates it; the kernel does not list it back (0).
        var setID: UInt32
        /// NFT_LOOKUP_F_INV when the rule wants the value not in the set; never sent when 0.
        var flags: UInt32 = 0

        init(set: String, setID: UInt32) { self.set = set; self.setID = setID }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_LOOKUP_SREG, register)
            nftnl_expr_set_str(e, attr(NFTNL_EXPR_LOOKUP_SET), set)
            ExprAttr.setU32(e, NFTNL_EXPR_LOOKUP_SET_ID, setID)
            if flags != 0 { ExprAttr.setU32(e, NFTNL_EXPR_LOOKUP_FLAGS, flags) }
        }

        init(decoding e: OpaquePointer) {
            register = ExprAttr.u32(e, NFTNL_EXPR_LOOKUP_SREG)
            set = ExprAttr.string(e, NFTNL_EXPR_LOOKUP_SET)
            setID = ExprAttr.u32(e, NFTNL_EXPR_LOOKUP_SET_ID)
            flags = ExprAttr.u32(e, NFTNL_EXPR_LOOKUP_FLAGS)
        }
    }
}
