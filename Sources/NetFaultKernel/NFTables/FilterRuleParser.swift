import CNFTables
import Glibc
import NetFaultCore

extension FilterRule {
    /// The rule `expressions` writes for a chain named `hook`; nil for any other shape (another
    /// tool's rule, or one netfault no longer makes). Reads untrusted numbers without trapping.
    init?(hook chain: String, expressions: [NFTExpression], comment: String) {
        guard let hook = Hook(rawValue: chain) else { return nil }
        var r = ExpressionReader(expressions)
        let device = r.metaEquals(NFT_META_OIFNAME).map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard r.metaEquals(NFT_META_L4PROTO) == [Self.tcp] else { return nil }
        var peer: (prefix: IPPrefix, side: PortMatch.Side)?
        if let proto = r.metaEquals(NFT_META_NFPROTO) {
            guard let p = r.peer(proto: proto) else { return nil }
            peer = p
        }
        guard let side = r.portLookup(), peer == nil || peer?.side == side else { return nil }
        var flags: Flags?
        if r.peek(\.payload)?.base == NFT_PAYLOAD_TRANSPORT_HEADER.rawValue {
            guard let f = r.tcpFlags() else { return nil }
            flags = f
        }
        let (chosen, group) = r.chosen(side: side, afterPeer: peer != nil) ?? (nil, nil)
        var loss: UInt32?
        if r.peek(\.numgen) != nil {
            guard let l = r.lossThreshold() else { return nil }
            loss = l
        }
        guard r.next(\.counter) != nil, let (verdict, band) = r.verdict(), r.isEmpty,
            (device != nil) == (verdict == .steer)
        else { return nil }
        if let device, let band {
            guard loss == nil else { return nil }
            self = .steer(
                device: device, band: band, side: side, peer: peer?.prefix, comment: comment, chosen: chosen,
                flags: flags)
        } else {
            self.init(
                hook: hook, side: side, peer: peer?.prefix, flags: flags, lossThreshold: loss, verdict: verdict,
                comment: comment, chosen: chosen, group: group)
        }
    }
}

/// A cursor over a rule's expressions that takes the shapes FilterRule.expressions writes.
struct ExpressionReader {
    private var rest: ArraySlice<NFTExpression>
    init(_ expressions: [NFTExpression]) { rest = expressions[...] }
    var isEmpty: Bool { rest.isEmpty }

    func peek<T>(_ kind: (NFTExpression) -> T?) -> T? { rest.first.flatMap(kind) }

    /// The next expression if it is of `kind`, taken.
    mutating func next<T>(_ kind: (NFTExpression) -> T?) -> T? {
        guard let e = peek(kind) else { return nil }
        rest = rest.dropFirst()
        return e
    }

    /// The value of `meta KEY VALUE`, taken only when the load is of `key`.
    mutating func metaEquals(_ key: nft_meta_keys) -> [UInt8]? {
        guard let m = peek(\.meta), m.key == key.rawValue, !m.setting else { return nil }
        rest = rest.dropFirst()
        return next(\.cmp).flatMap { $0.op == NFT_CMP_EQ.rawValue ? $0.data : nil }
    }

    /// An equality, with the mask before it when there is one.
    mutating func masked() -> (mask: [UInt8]?, value: [UInt8])? {
        let mask = next(\.bitwise)?.mask
        guard let c = next(\.cmp), c.op == NFT_CMP_EQ.rawValue else { return nil }
        return (mask, c.data)
    }

    /// The address match after `meta nfproto PROTO`.
    mutating func peer(proto: [UInt8]) -> (prefix: IPPrefix, side: PortMatch.Side)? {
        let v4 = proto == [UInt8(NFPROTO_IPV4)]
        guard v4 || proto == [UInt8(NFPROTO_IPV6)], let p = next(\.payload),
            p.base == NFT_PAYLOAD_NETWORK_HEADER.rawValue, let (mask, value) = masked()
        else { return nil }
        let side: PortMatch.Side
        switch p.offset {
        case FilterRule.addressOffset(v4: v4, side: .source): side = .source
        case FilterRule.addressOffset(v4: v4, side: .destination): side = .destination
        default: return nil
        }
        let size = v4 ? 4 : 16
        guard value.count <= size else { return nil }
        let bytes = value + [UInt8](repeating: 0, count: size - value.count)
        let length = mask.map { $0.reduce(0) { $0 + $1.nonzeroBitCount } } ?? value.count * 8
        guard length <= size * 8 else { return nil }
        return (IPPrefix(address: IPAddress(bytes: bytes), length: UInt8(length)), side)
    }

    /// `tcp dport|sport @lease`: the side the port is on.
    mutating func portLookup() -> PortMatch.Side? {
        guard let p = next(\.payload), p.base == NFT_PAYLOAD_TRANSPORT_HEADER.rawValue, p.length == 2,
            p.offset <= 2, let l = next(\.lookup), l.set == Ownership.leaseSet, l.flags == 0
        else { return nil }
        return p.offset == 2 ? .destination : .source
    }

    /// `tcp flags & MASK == VALUE`, exactly as FilterRule.flagsMatch writes one of them.
    mutating func tcpFlags() -> FilterRule.Flags? {
        let three = Array(rest.prefix(3))
        guard let flags = FilterRule.Flags.allShapes.first(where: { FilterRule.flagsMatch($0) == three }) else {
            return nil
        }
        rest = rest.dropFirst(3)
        return flags
    }

    /// `KEY @chosenN` (with the family check when no address match made it): the family, and
    /// a mix's group (nil: the first).
    mutating func chosen(side: PortMatch.Side, afterPeer: Bool) -> (IPAddress.Family, Int?)? {
        for family in IPAddress.Family.allCases {
            for group in 0..<ConnectionMix.largestGroups {
                let shape =
                    (afterPeer ? [] : FilterRule.familyMatch(family))
                    + FilterRule.shareLookup(family, side: side, group: group)
                // The kernel lists a lookup without the set's id in the batch: compare without it.
                if rest.prefix(shape.count).map(\.withoutSetID) == shape.map(\.withoutSetID) {
                    rest = rest.dropFirst(shape.count)
                    return (family, group == 0 ? nil : group)
                }
            }
        }
        return nil
    }

    /// The threshold of `numgen random mod M < T`.
    mutating func lossThreshold() -> UInt32? {
        guard let ng = next(\.numgen), ng.modulus == FilterSpec.lossModulus, next(\.byteorder) != nil,
            let c = next(\.cmp), c.op == NFT_CMP_LT.rawValue, c.data.count == 4
        else { return nil }
        return c.data.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// drop, reject with tcp reset, or meta priority set 6e66:BAND (with its band).
    mutating func verdict() -> (FilterRule.Verdict, UInt16?)? {
        if let imm = next(\.immediate) {
            switch imm.value {
            case .verdict(let code) where code == NF_DROP && imm.register == NFTExpression.verdictRegister:
                return (.drop, nil)
            case .data(let value) where value.count == 4 && imm.register == NFTExpression.reg1:
                guard let m = next(\.meta), m.setting, m.key == NFT_META_PRIORITY.rawValue else { return nil }
                let priority = value.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                guard priority >> 16 == UInt32(Ownership.rootMajor) else { return nil }
                return (.steer, UInt16(priority & 0xffff))
            default: return nil
            }
        }
        return next(\.reject) != nil ? (.reset, nil) : nil
    }
}

extension FilterRule.Flags {
    static let allShapes: [Self] = [.synOnly, .notSyn, .notRst, .synAck, .fin]
}

/// Case paths for ExpressionReader: `\.payload` is the payload if that is the expression's kind.
extension NFTExpression {
    var payload: Payload? { if case .payload(let e) = self { e } else { nil } }
    var meta: Meta? { if case .meta(let e) = self { e } else { nil } }
    var cmp: Cmp? { if case .cmp(let e) = self { e } else { nil } }
    var bitwise: Bitwise? { if case .bitwise(let e) = self { e } else { nil } }
    var byteorder: Byteorder? { if case .byteorder(let e) = self { e } else { nil } }
    var lookup: Lookup? { if case .lookup(let e) = self { e } else { nil } }
    var numgen: Numgen? { if case .numgen(let e) = self { e } else { nil } }
    var counter: Counter? { if case .counter(let e) = self { e } else { nil } }
    var immediate: Immediate? { if case .immediate(let e) = self { e } else { nil } }
    var reject: Reject? { if case .reject(let e) = self { e } else { nil } }
    var dynset: Dynset? { if case .dynset(let e) = self { e } else { nil } }
    var socket: Socket? { if case .socket(let e) = self { e } else { nil } }

    /// The same expression with a lookup's or dynset's batch set id cleared (as the kernel
    /// lists it).
    var withoutSetID: NFTExpression {
        switch self {
        case .lookup(var l):
            l.setID = 0
            return .lookup(l)
        case .dynset(var d):
            d.setID = 0
            return .dynset(d)
        default: return self
        }
    }
}
