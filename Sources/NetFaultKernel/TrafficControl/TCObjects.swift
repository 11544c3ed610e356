import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// A qdisc as the kernel reports it.
public struct QdiscInfo: Sendable, Equatable {
    public let ifindex: Int32
    public let kind: String
    public let handle: UInt32
    public let parent: UInt32
    public let options: [UInt8]
    /// Packets the qdisc has sent (TCA_STATS2's basic counters); nil when the kernel gave none.
    public let packets: UInt64?
    public var major: UInt16 { UInt16(handle >> 16) }
    public var isRoot: Bool { parent == TC_H_ROOT }
    public var isIngress: Bool { parent == TC_H_INGRESS }

    /// netfault's root as addRootPrio makes it: prio with handle 6e66:, 16 bands, every priority
    /// to band 1. A handle alone is not enough: a user's `tc qdisc add ... root handle 6e66: prio`
    /// has prio's own defaults (3 bands, its priomap), and is never taken for netfault's.
    public var isNetfaultRoot: Bool {
        // TCA_OPTIONS starts with struct tc_prio_qopt: int bands, then u8 priomap[16].
        guard isRoot, kind == "prio", major == Ownership.rootMajor, options.count >= 20 else { return false }
        return options.le32(at: 0) == UInt32(Ownership.bands) && options[4..<20].allSatisfy { $0 == 0 }
    }

    /// Parses an RTM_NEWQDISC message.
    init?(_ msg: NetlinkMessage) {
        guard msg.type == UInt16(RTM_NEWQDISC), let t = TCMsg(decoding: msg.payload) else { return nil }
        ifindex = t.tcm_ifindex
        handle = t.tcm_handle
        parent = t.tcm_parent
        let attrs = Attributes(msg.payload[TCMsg.size...])
        kind = attrs.string(TCA_KIND) ?? ""
        options = attrs[TCA_OPTIONS] ?? []
        // struct gnet_stats_basic: u64 bytes, then u32 packets.
        packets = attrs[TCA_STATS2].flatMap { Attributes($0)[TCA_STATS_BASIC] }.flatMap {
            $0.count >= 12 ? UInt64($0.le32(at: 8)) : nil
        }
    }
}

/// A classifier as the kernel reports it.
public struct FilterInfo: Sendable, Equatable {
    public let ifindex: Int32
    public let kind: String
    public let parent: UInt32
    public let handle: UInt32
    public let priority: UInt16
    public let protocolNumber: UInt16
    public let classID: UInt32?
    /// For a u32 filter whose action is mirred: the device it redirects to.
    public let redirectIfindex: Int32?

    init?(_ msg: NetlinkMessage) {
        guard msg.type == UInt16(RTM_NEWTFILTER), let t = TCMsg(decoding: msg.payload) else { return nil }
        ifindex = t.tcm_ifindex
        handle = t.tcm_handle
        parent = t.tcm_parent
        let info = t.tcm_info
        priority = UInt16(info >> 16)
        protocolNumber = UInt16(info & 0xffff).bigEndian
        let attrs = Attributes(msg.payload[TCMsg.size...])
        kind = attrs.string(TCA_KIND) ?? ""
        let options = attrs[TCA_OPTIONS].map { Attributes($0) }
        classID = options.flatMap { $0.u32(TCA_U32_CLASSID) }
        // The device a u32 filter's first action redirects to: TCA_U32_ACT holds the actions by
        // order; mirred's TCA_MIRRED_PARMS is struct tc_mirred, whose ifindex is at offset 24.
        redirectIfindex = options.flatMap { $0[TCA_U32_ACT] }.flatMap { Attributes($0)[1] }.flatMap { action in
            let a = Attributes(action)
            guard a.string(TCA_ACT_KIND) == "mirred", let o = a[TCA_ACT_OPTIONS],
                let parms = Attributes(o)[TCA_MIRRED_PARMS], parms.count >= 28
            else { return nil }
            return Int32(bitPattern: parms.le32(at: 24))
        }
    }
}

/// Decodes netem's TCA_OPTIONS (tc_netem_qopt then attributes) back into the typed spec, so
/// what is printed after apply is what the kernel holds, not what was asked for.
public enum NetemDecoder {
    public static func decode(_ o: [UInt8]) -> NetemSpec? {
        guard o.count >= 24 else { return nil }
        var s = NetemSpec()
        let latency = o.le32(at: 0), loss = o.le32(at: 8), gap = o.le32(at: 12)
        let dup = o.le32(at: 16), jitter = o.le32(at: 20)
        let attrs = Attributes(o[24...])
        let pct = KernelUnits.percent(probability:)
        if latency > 0 { s.delay = KernelUnits.duration(ticks: latency) }
        if jitter > 0 { s.jitter = KernelUnits.duration(ticks: jitter) }
        if let l = attrs[TCA_NETEM_LATENCY64], l.count >= 8 {
            s.delay = Duration(nanoseconds: Int64(bitPattern: l.le64(at: 0)))
        }
        if let j = attrs[TCA_NETEM_JITTER64], j.count >= 8 {
            s.jitter = Duration(nanoseconds: Int64(bitPattern: j.le64(at: 0)))
        }
        if s.delay?.nanoseconds == 0 { s.delay = nil }
        if s.jitter?.nanoseconds == 0 { s.jitter = nil }
        if loss > 0 { s.loss = pct(loss) }
        if dup > 0 { s.duplicate = pct(dup) }
        if let c = attrs[TCA_NETEM_CORR], c.count >= 12 {
            if c.le32(at: 0) > 0 { s.delayCorrelation = pct(c.le32(at: 0)) }
            if c.le32(at: 4) > 0 { s.lossCorrelation = pct(c.le32(at: 4)) }
        }
        if let r = attrs[TCA_NETEM_REORDER], r.count >= 8, r.le32(at: 0) > 0 {
            s.reorder = pct(r.le32(at: 0))
            if gap > 1 { s.gap = gap }
        }
        if let c = attrs[TCA_NETEM_CORRUPT], c.count >= 8, c.le32(at: 0) > 0 { s.corrupt = pct(c.le32(at: 0)) }
        var rateBytes: UInt64 = 0
        if let r = attrs[TCA_NETEM_RATE], r.count >= 4 { rateBytes = UInt64(r.le32(at: 0)) }
        if let r = attrs[TCA_NETEM_RATE64], r.count >= 8 { rateBytes = r.le64(at: 0) }
        if rateBytes > 0 { s.rate = Rate(bitsPerSecond: rateBytes * 8) }
        s.limit = o.le32(at: 4)  // what the kernel holds, default or not
        return s
    }
}
