import CNFTables
import Glibc

// Expressions that write to a set from the packet path.

extension NFTExpression {
    /// `dynset add reg_key R set NAME`: the register's value becomes an element of the set (a
    /// set with `flags dynamic`); an element added without its own timeout takes the set's.
    /// --connections remembers each connection's draw this way.
    struct Dynset: NFTExpressionKind {
        static let name = "dynset"
        var keyRegister = NFTExpression.reg1
        /// NFT_DYNSET_OP_ADD, NFT_DYNSET_OP_UPDATE or NFT_DYNSET_OP_DELETE.
        var op: UInt32
        var set: String
        /// The set's id in the batch that creates it; the kernel does not list it back (0).
        var setID: UInt32
        /// The element's own timeout in milliseconds; never sent when 0 (the set's applies).
        var timeoutMilliseconds: UInt64 = 0
        /// The element's own quota (--limit-data), sent as the dynset's one expression.
        var quota: Quota?

        init(_ op: nft_dynset_ops, set: String, setID: UInt32) {
            self.op = op.rawValue; self.set = set; self.setID = setID
        }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_DYNSET_SREG_KEY, keyRegister)
            ExprAttr.setU32(e, NFTNL_EXPR_DYNSET_OP, op)
            nftnl_expr_set_str(e, attr(NFTNL_EXPR_DYNSET_SET_NAME), set)
            ExprAttr.setU32(e, NFTNL_EXPR_DYNSET_SET_ID, setID)
            if timeoutMilliseconds != 0 {
                nftnl_expr_set_u64(e, attr(NFTNL_EXPR_DYNSET_TIMEOUT), timeoutMilliseconds)
            }
            // The dynset takes the inner expression's ownership; nft sends one without a list.
            if let quota, let inner = nftnl_expr_alloc(Quota.name) {
                quota.encode(inner)
                _ = nftnl_expr_set(e, attr(NFTNL_EXPR_DYNSET_EXPR), UnsafeRawPointer(inner), 0)
            }
        }

        init(decoding e: OpaquePointer) {
            keyRegister = ExprAttr.u32(e, NFTNL_EXPR_DYNSET_SREG_KEY)
            op = ExprAttr.u32(e, NFTNL_EXPR_DYNSET_OP)
            set = ExprAttr.string(e, NFTNL_EXPR_DYNSET_SET_NAME)
            setID = ExprAttr.u32(e, NFTNL_EXPR_DYNSET_SET_ID)
            timeoutMilliseconds = ExprAttr.u64(e, NFTNL_EXPR_DYNSET_TIMEOUT)
            var len: UInt32 = 0
            if let inner = nftnl_expr_get(e, attr(NFTNL_EXPR_DYNSET_EXPR), &len),
                case .quota(let q)? = NFTExpression(decoding: OpaquePointer(inner))
            {
                quota = q
            }
        }
    }
}
