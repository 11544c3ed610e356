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
        // TCA_OPTIONS starts with struct tc_prio_qopt.
        guard isRoot, kind == "prio", major == Ownership.rootMajor else { return false }
        return TCPrioQopt(decoding: options) == TCRequests.rootPrioOptions
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
        // order; mirred's TCA_MIRRED_PARMS is struct tc_mirred.
        redirectIfindex = options.flatMap { $0[TCA_U32_ACT] }.flatMap { Attributes($0)[1] }.flatMap { action in
            let a = Attributes(action)
            guard a.string(TCA_ACT_KIND) == "mirred", let o = a[TCA_ACT_OPTIONS],
                let parms = Attributes(o)[TCA_MIRRED_PARMS].flatMap(TCMirred.init(decoding:))
            else { return nil }
            return Int32(bitPattern: parms.ifindex)
        }
    }
}

/// Decodes netem's TCA_OPTIONS (tc_netem_qopt then attributes) back into the typed spec, so
/// what is printed after apply is what the kernel holds, not what was asked for.
public enum NetemDecoder {
    public static func decode(_ o: [UInt8]) -> NetemSpec? {
        guard let q = TCNetemQopt(decoding: o) else { return nil }
        var s = NetemSpec()
        let attrs = Attributes(o[TCNetemQopt.size...])
        let pct = KernelUnits.percent(probability:)
        if q.latency > 0 { s.delay = KernelUnits.duration(ticks: q.latency) }
        if q.jitter > 0 { s.jitter = KernelUnits.duration(ticks: q.jitter) }
        if let l = attrs[TCA_NETEM_LATENCY64], l.count >= 8 {
            s.delay = Duration(nanoseconds: Int64(bitPattern: l.le64(at: 0)))
        }
        if let j = attrs[TCA_NETEM_JITTER64], j.count >= 8 {
            s.jitter = Duration(nanoseconds: Int64(bitPattern: j.le64(at: 0)))
        }
        if s.delay?.nanoseconds == 0 { s.delay = nil }
        if s.jitter?.nanoseconds == 0 { s.jitter = nil }
        if q.loss > 0 { s.loss = pct(q.loss) }
        if q.duplicate > 0 { s.duplicate = pct(q.duplicate) }
        if let c = attrs[TCA_NETEM_CORR].flatMap(TCNetemCorr.init(decoding:)) {
            if c.delay > 0 { s.delayCorrelation = pct(c.delay) }
            if c.loss > 0 { s.lossCorrelation = pct(c.loss) }
        }
        if let r = attrs[TCA_NETEM_REORDER].flatMap(TCNetemProbability.init(decoding:)), r.probability > 0 {
            s.reorder = pct(r.probability)
            if q.gap > 1 { s.gap = q.gap }
        }
        if let c = attrs[TCA_NETEM_CORRUPT].flatMap(TCNetemProbability.init(decoding:)), c.probability > 0 {
            s.corrupt = pct(c.probability)
        }
        var rateBytes: UInt64 = 0
        if let r = attrs[TCA_NETEM_RATE].flatMap(TCNetemRate.init(decoding:)) { rateBytes = UInt64(r.rate) }
        if let r = attrs[TCA_NETEM_RATE64], r.count >= 8 { rateBytes = r.le64(at: 0) }
        // Saturates: TCA_NETEM_RATE64 may hold anything, and reading it back must not trap.
        let (bits, overflow) = rateBytes.multipliedReportingOverflow(by: 8)
        if rateBytes > 0 { s.rate = Rate(bitsPerSecond: overflow ? .max : bits) }
        s.limit = q.limit  // what the kernel holds, default or not
        return s
    }
}
