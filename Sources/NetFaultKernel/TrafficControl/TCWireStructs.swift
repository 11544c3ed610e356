import CNetlink
import FoundationEssentials
import Glibc

/// The fixed structs inside traffic-control options, with the kernel's field names, each
/// encoded and decoded in one place (host byte order, as rtnetlink is, unless a field says).

/// struct tc_prio_qopt (linux/pkt_sched.h): a prio qdisc's bands and which band each of the 16
/// priorities goes to.
public struct TCPrioQopt: Equatable, Sendable {
    public static let size = 20
    public var bands: Int32
    public var priomap: [UInt8]

    public init(bands: Int32, priomap: [UInt8]) { self.bands = bands; self.priomap = priomap }

    public func encode(into w: inout ByteWriter) {
        w.i32(bands)
        w.raw((priomap + [UInt8](repeating: 0, count: 16)).prefix(16).map { $0 })
    }

    public init?(decoding p: [UInt8]) {
        guard p.count >= Self.size else { return nil }
        bands = Int32(bitPattern: p.le32(at: 0))
        priomap = Array(p[4..<20])
    }
}

/// struct tc_netem_qopt (linux/pkt_sched.h): netem's fixed options, attributes follow it.
/// Times in ticks, probabilities scaled to UInt32.max (see KernelUnits).
public struct TCNetemQopt: Equatable, Sendable {
    public static let size = 24
    public var latency: UInt32 = 0
    public var limit: UInt32 = 0
    public var loss: UInt32 = 0
    public var gap: UInt32 = 0
    public var duplicate: UInt32 = 0
    public var jitter: UInt32 = 0

    public init() {}

    public func encode(into w: inout ByteWriter) {
        for v in [latency, limit, loss, gap, duplicate, jitter] { w.u32(v) }
    }

    public init?(decoding p: [UInt8]) {
        guard p.count >= Self.size else { return nil }
        latency = p.le32(at: 0); limit = p.le32(at: 4); loss = p.le32(at: 8)
        gap = p.le32(at: 12); duplicate = p.le32(at: 16); jitter = p.le32(at: 20)
    }
}

/// struct tc_netem_corr (TCA_NETEM_CORR): the correlations of delay, loss and duplication.
public struct TCNetemCorr: Equatable, Sendable {
    public var delay: UInt32 = 0
    public var loss: UInt32 = 0
    public var duplicate: UInt32 = 0

    public func encode(into w: inout ByteWriter) { w.u32(delay); w.u32(loss); w.u32(duplicate) }

    public init(delay: UInt32, loss: UInt32, duplicate: UInt32 = 0) {
        self.delay = delay; self.loss = loss; self.duplicate = duplicate
    }

    public init?(decoding p: [UInt8]) {
        guard p.count >= 12 else { return nil }
        delay = p.le32(at: 0); loss = p.le32(at: 4); duplicate = p.le32(at: 8)
    }
}

/// struct tc_netem_reorder and struct tc_netem_corrupt (the same layout): a probability and its
/// correlation.
public struct TCNetemProbability: Equatable, Sendable {
    public var probability: UInt32
    public var correlation: UInt32 = 0

    public init(_ probability: UInt32) { self.probability = probability }

    public func encode(into w: inout ByteWriter) { w.u32(probability); w.u32(correlation) }

    public init?(decoding p: [UInt8]) {
        guard p.count >= 8 else { return nil }
        probability = p.le32(at: 0); correlation = p.le32(at: 4)
    }
}

/// struct tc_netem_rate (TCA_NETEM_RATE): bytes a second (capped; TCA_NETEM_RATE64 carries more).
public struct TCNetemRate: Equatable, Sendable {
    public var rate: UInt32
    public var packetOverhead: Int32 = 0
    public var cellSize: UInt32 = 0
    public var cellOverhead: Int32 = 0

    public init(rate: UInt32) { self.rate = rate }

    public func encode(into w: inout ByteWriter) {
        w.u32(rate); w.i32(packetOverhead); w.u32(cellSize); w.i32(cellOverhead)
    }

    public init?(decoding p: [UInt8]) {
        guard p.count >= 16 else { return nil }
        rate = p.le32(at: 0); packetOverhead = Int32(bitPattern: p.le32(at: 4))
        cellSize = p.le32(at: 8); cellOverhead = Int32(bitPattern: p.le32(at: 12))
    }
}

/// struct tc_u32_key (linux/pkt_cls.h): the 32-bit word at `offset` (from the network header),
/// masked, equals `value`. Mask and value in network byte order, as the kernel compares them.
public struct TCU32Key: Equatable, Sendable {
    public static let size = 16
    public var mask: UInt32
    public var value: UInt32
    public var offset: Int32
    public var offmask: Int32 = 0

    public init(mask: UInt32, value: UInt32, offset: Int32) {
        self.mask = mask; self.value = value; self.offset = offset
    }

    public func encode(into w: inout ByteWriter) { w.be32(mask); w.be32(value); w.i32(offset); w.i32(offmask) }

    public init?(decoding p: ArraySlice<UInt8>) {
        guard p.count >= Self.size else { return nil }
        let a = Array(p.prefix(Self.size))
        mask = a.le32(at: 0).byteSwapped; value = a.le32(at: 4).byteSwapped
        offset = Int32(bitPattern: a.le32(at: 8)); offmask = Int32(bitPattern: a.le32(at: 12))
    }
}

/// struct tc_u32_sel (linux/pkt_cls.h): a u32 filter's keys, all of which must match.
public struct TCU32Selector: Equatable, Sendable {
    public static let headerSize = 16
    public var flags: UInt8 = UInt8(TC_U32_TERMINAL)
    public var offshift: UInt8 = 0
    public var offmask: UInt16 = 0
    public var off: UInt16 = 0
    public var offoff: Int16 = 0
    public var hoff: Int16 = 0
    public var hmask: UInt32 = 0
    public var keys: [TCU32Key]

    public init(keys: [TCU32Key]) { self.keys = keys }

    public func encode(into w: inout ByteWriter) {
        w.u8(flags); w.u8(offshift); w.u8(UInt8(clamping: keys.count)); w.u8(0)
        w.u16(offmask); w.u16(off); w.u16(UInt16(bitPattern: offoff)); w.u16(UInt16(bitPattern: hoff)); w.u32(hmask)
        for k in keys { k.encode(into: &w) }
    }

    public init?(decoding p: [UInt8]) {
        guard p.count >= Self.headerSize else { return nil }
        let n = Int(p[2])
        guard p.count >= Self.headerSize + n * TCU32Key.size else { return nil }
        flags = p[0]; offshift = p[1]
        offmask = p.le16(at: 4); off = p.le16(at: 6)
        offoff = Int16(bitPattern: p.le16(at: 8)); hoff = Int16(bitPattern: p.le16(at: 10)); hmask = p.le32(at: 12)
        keys = (0..<n).compactMap { TCU32Key(decoding: p[(Self.headerSize + $0 * TCU32Key.size)...]) }
    }
}

/// struct tc_mirred (linux/tc_act/tc_mirred.h): tc_gen, then what to do and to which device.
public struct TCMirred: Equatable, Sendable {
    public static let size = 28
    public var index: UInt32 = 0
    public var capab: UInt32 = 0
    /// TC_ACT_STOLEN for a redirect: the packet goes on only at the target.
    public var action: Int32
    public var refcnt: Int32 = 0
    public var bindcnt: Int32 = 0
    /// TCA_EGRESS_REDIR, TCA_EGRESS_MIRROR, ...
    public var eaction: Int32
    public var ifindex: UInt32

    public init(action: Int32, eaction: Int32, ifindex: UInt32) {
        self.action = action; self.eaction = eaction; self.ifindex = ifindex
    }

    public func encode(into w: inout ByteWriter) {
        w.u32(index); w.u32(capab); w.i32(action); w.i32(refcnt); w.i32(bindcnt)
        w.i32(eaction); w.u32(ifindex)
    }

    public init?(decoding p: [UInt8]) {
        guard p.count >= Self.size else { return nil }
        index = p.le32(at: 0); capab = p.le32(at: 4); action = Int32(bitPattern: p.le32(at: 8))
        refcnt = Int32(bitPattern: p.le32(at: 12)); bindcnt = Int32(bitPattern: p.le32(at: 16))
        eaction = Int32(bitPattern: p.le32(at: 20)); ifindex = p.le32(at: 24)
    }
}
