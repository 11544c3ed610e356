import CNFTables
import Glibc

// Expressions that read the local socket a packet belongs to.

extension NFTExpression {
    /// `socket load cgroupv2 => reg R , level L`: the id (8 bytes, host order) of the packet's
    /// socket's cgroup v2 ancestor at depth `level` from the root, or no match when the socket
    /// is not that deep. On output the socket is the sender's (skb->sk); on input the kernel
    /// looks one up, which for a SYN is the listener, so netfault only uses it on output.
    struct Socket: NFTExpressionKind {
        static let name = "socket"
        /// NFT_SOCKET_CGROUPV2, NFT_SOCKET_MARK, ...
        var key: UInt32
        var register = NFTExpression.reg1
        /// Only for cgroupv2 (NFTA_SOCKET_LEVEL); nil leaves the attribute out, as nft does for other keys.
        var level: UInt32?

        init(cgroupLevel level: UInt32) { key = NFT_SOCKET_CGROUPV2.rawValue; self.level = level }

        func encode(_ e: OpaquePointer) {
            ExprAttr.setU32(e, NFTNL_EXPR_SOCKET_KEY, key)
            ExprAttr.setU32(e, NFTNL_EXPR_SOCKET_DREG, register)
            if let level { ExprAttr.setU32(e, NFTNL_EXPR_SOCKET_LEVEL, level) }
        }

        init(decoding e: OpaquePointer) {
            key = ExprAttr.u32(e, NFTNL_EXPR_SOCKET_KEY)
            register = ExprAttr.u32(e, NFTNL_EXPR_SOCKET_DREG)
            level = ExprAttr.isSet(e, NFTNL_EXPR_SOCKET_LEVEL) ? ExprAttr.u32(e, NFTNL_EXPR_SOCKET_LEVEL) : nil
        }
    }
}
