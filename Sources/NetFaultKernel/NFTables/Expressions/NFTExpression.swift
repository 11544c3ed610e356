import CNFTables
import Glibc

/// One nf_tables expression, typed by its kind (google/nftables' `expr` package is the model).
/// Each kind keeps its netlink encoding and decoding side by side; libnftnl writes and parses
/// the attributes, so the bytes stay those `nft` sends. A rule is a list of these.
enum NFTExpression: Sendable, Equatable {
    case payload(Payload)
    case meta(Meta)
    case cmp(Cmp)
    case bitwise(Bitwise)
    case byteorder(Byteorder)
    case lookup(Lookup)
    case numgen(Numgen)
    case counter(Counter)
    case immediate(Immediate)
    case reject(Reject)
    case dynset(Dynset)
    case quota(Quota)
    case payloadWrite(PayloadWrite)
    case exthdrWrite(ExthdrWrite)
    case socket(Socket)

    /// NFT_REG_1, the 16-byte register every netfault rule loads into and compares from.
    static let reg1 = UInt32(NFT_REG_1.rawValue)
    /// NFT_REG_VERDICT, where an immediate verdict goes.
    static let verdictRegister = UInt32(NFT_REG_VERDICT.rawValue)

    var kind: any NFTExpressionKind {
        switch self {
        case .payload(let e): e
        case .meta(let e): e
        case .cmp(let e): e
        case .bitwise(let e): e
        case .byteorder(let e): e
        case .lookup(let e): e
        case .numgen(let e): e
        case .counter(let e): e
        case .immediate(let e): e
        case .reject(let e): e
        case .dynset(let e): e
        case .quota(let e): e
        case .payloadWrite(let e): e
        case .exthdrWrite(let e): e
        case .socket(let e): e
        }
    }

    /// A libnftnl expression with this one's attributes; the caller owns it (a rule takes it).
    func allocate() throws -> OpaquePointer {
        let k = kind
        let name = type(of: k).name
        guard let e = nftnl_expr_alloc(name) else { throw NFTablesRequests.outOfMemory("expression \(name)") }
        k.encode(e)
        return e
    }

    /// The expression libnftnl parsed from a rule; nil for a kind netfault does not know.
    init?(decoding e: OpaquePointer) {
        let name = nftnl_expr_get_str(e, attr(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? ""
        switch name {
        case Payload.name where ExprAttr.isSet(e, NFTNL_EXPR_PAYLOAD_SREG):
            self = .payloadWrite(PayloadWrite(decoding: e))
        case Payload.name: self = .payload(Payload(decoding: e))
        case Meta.name: self = .meta(Meta(decoding: e))
        case Cmp.name: self = .cmp(Cmp(decoding: e))
        case Bitwise.name: self = .bitwise(Bitwise(decoding: e))
        case Byteorder.name: self = .byteorder(Byteorder(decoding: e))
        case Lookup.name: self = .lookup(Lookup(decoding: e))
        case Numgen.name: self = .numgen(Numgen(decoding: e))
        case Counter.name: self = .counter(Counter(decoding: e))
        case Immediate.name: self = .immediate(Immediate(decoding: e))
        case Reject.name: self = .reject(Reject(decoding: e))
        case Dynset.name: self = .dynset(Dynset(decoding: e))
        case Quota.name: self = .quota(Quota(decoding: e))
        case ExthdrWrite.name where ExprAttr.isSet(e, NFTNL_EXPR_EXTHDR_SREG):
            self = .exthdrWrite(ExthdrWrite(decoding: e))
        case Socket.name: self = .socket(Socket(decoding: e))
        default: return nil
        }
    }
}

/// One kind of expression: its libnftnl name, how its attributes are set and read back.
protocol NFTExpressionKind: Sendable, Equatable {
    static var name: String { get }
    /// Sets this expression's attributes on a libnftnl expression of kind `name`.
    func encode(_ e: OpaquePointer)
    /// Reads them back; an attribute the message lacks reads as zero or empty, as in libnftnl.
    init(decoding e: OpaquePointer)
}

/// libnftnl's accessors, in the shapes the kinds use.
enum ExprAttr {
    static func u32(_ e: OpaquePointer, _ a: Int) -> UInt32 { nftnl_expr_get_u32(e, attr(a)) }
    static func u64(_ e: OpaquePointer, _ a: Int) -> UInt64 { nftnl_expr_get_u64(e, attr(a)) }
    static func isSet(_ e: OpaquePointer, _ a: Int) -> Bool { nftnl_expr_is_set(e, attr(a)) }
    static func string(_ e: OpaquePointer, _ a: Int) -> String {
        nftnl_expr_get_str(e, attr(a)).map { String(cString: $0) } ?? ""
    }
    static func data(_ e: OpaquePointer, _ a: Int) -> [UInt8] {
        var len: UInt32 = 0
        guard let p = nftnl_expr_get(e, attr(a), &len) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: Int(len)))
    }
    static func setU32(_ e: OpaquePointer, _ a: Int, _ v: UInt32) { nftnl_expr_set_u32(e, attr(a), v) }
    static func setData(_ e: OpaquePointer, _ a: Int, _ bytes: [UInt8]) {
        _ = nftnl_expr_set(e, attr(a), bytes, UInt32(bytes.count))
    }
}
