import CNFTables
import Glibc

// Expressions that load a value into a register.

extension NFTExpression {
    /// `payload load LEN b @ BASE + OFFSET => reg DREG`: bytes of a packet header.
    struct Payload: NFTExpressionKind {
        static let name = "payload"
        var register = NFTExpression.reg1
        /// NFT_PAYLOAD_NETWORK_HEADER, NFT_PAYLOAD_TRANSPORT_HEADER, ...
        var base: UInt32
        var offset: UInt32
        var length: UInt32

        init(base: nft_payload_bases, offset: UInt32, length: UInt32) {
            self.base = base.rawValue; self.offset = offset; self.length = length
        }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_DREG, register)
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_BASE, base)
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset)
            ExprAttr.setU32(e, NFTNL_EXPR_PAYLOAD_LEN, length)
        }

        init(decoding e: OpaquePointer) {
            register = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_DREG)
            base = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_BASE)
            offset = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_OFFSET)
            length = ExprAttr.u32(e, NFTNL_EXPR_PAYLOAD_LEN)
        }
    }

    /// `meta load KEY => reg R`, or with `setting` `meta set KEY with reg R`.
    struct Meta: NFTExpressionKind {
        static let name = "meta"
        /// NFT_META_OIFNAME, NFT_META_L4PROTO, NFT_META_PRIORITY, ...
        var key: UInt32
        var register = NFTExpression.reg1
        /// The register is the source (meta set), not the destination.
        var setting = false

        init(key: nft_meta_keys, setting: Bool = false) {
            self.key = key.rawValue; self.setting = setting
        }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_META_KEY, key)
            ExprAttr.setU32(e, setting ? NFTNL_EXPR_META_SREG : NFTNL_EXPR_META_DREG, register)
        }

        init(decoding e: OpaquePointer) {
            key = ExprAttr.u32(e, NFTNL_EXPR_META_KEY)
            setting = ExprAttr.isSet(e, NFTNL_EXPR_META_SREG)
            register = ExprAttr.u32(e, setting ? NFTNL_EXPR_META_SREG : NFTNL_EXPR_META_DREG)
        }
    }

    /// `numgen random|inc mod M offset O => reg R`: a number drawn per packet (host-endian).
    struct Numgen: NFTExpressionKind {
        static let name = "numgen"
        var register = NFTExpression.reg1
        var modulus: UInt32
        /// NFT_NG_RANDOM or NFT_NG_INCREMENTAL.
        var type: UInt32
        var offset: UInt32 = 0

        init(type: nft_ng_types, modulus: UInt32) {
            self.type = type.rawValue; self.modulus = modulus
        }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_NG_DREG, register)
            ExprAttr.setU32(e, NFTNL_EXPR_NG_MODULUS, modulus)
            ExprAttr.setU32(e, NFTNL_EXPR_NG_TYPE, type)
            ExprAttr.setU32(e, NFTNL_EXPR_NG_OFFSET, offset)
        }

        init(decoding e: OpaquePointer) {
            register = ExprAttr.u32(e, NFTNL_EXPR_NG_DREG)
            modulus = ExprAttr.u32(e, NFTNL_EXPR_NG_MODULUS)
            type = ExprAttr.u32(e, NFTNL_EXPR_NG_TYPE)
            offset = ExprAttr.u32(e, NFTNL_EXPR_NG_OFFSET)
        }
    }

    /// `immediate reg R VALUE` or `immediate reg 0 VERDICT`.
    struct Immediate: NFTExpressionKind {
        static let name = "immediate"
        enum Value: Sendable, Equatable {
            /// NF_DROP, NF_ACCEPT, NFT_CONTINUE, ... into the verdict register.
            case verdict(Int32)
            /// Bytes into a data register.
            case data([UInt8])
        }
        var register: UInt32
        var value: Value

        static func verdict(_ code: Int32) -> Immediate {
            Immediate(register: NFTExpression.verdictRegister, value: .verdict(code))
        }
        static func data(_ bytes: [UInt8], into register: UInt32 = NFTExpression.reg1) -> Immediate {
            Immediate(register: register, value: .data(bytes))
        }
        init(register: UInt32, value: Value) { self.register = register; self.value = value }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_IMM_DREG, register)
            switch value {
            case .verdict(let code): ExprAttr.setU32(e, NFTNL_EXPR_IMM_VERDICT, UInt32(bitPattern: code))
            case .data(let bytes): ExprAttr.setData(e, NFTNL_EXPR_IMM_DATA, bytes)
            }
        }

        init(decoding e: OpaquePointer) {
            register = ExprAttr.u32(e, NFTNL_EXPR_IMM_DREG)
            value =
                ExprAttr.isSet(e, NFTNL_EXPR_IMM_VERDICT)
                ? .verdict(Int32(bitPattern: ExprAttr.u32(e, NFTNL_EXPR_IMM_VERDICT)))
                : .data(ExprAttr.data(e, NFTNL_EXPR_IMM_DATA))
        }
    }
}
