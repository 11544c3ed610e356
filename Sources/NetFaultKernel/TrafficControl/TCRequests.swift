import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// Traffic-control and link requests, encoded byte for byte as iproute2 encodes the same
/// command (see Tests/NetFaultKernelTests/Fixtures/tc-requests.txt).
public enum TCRequests {
    // Attribute numbers and values are the kernel headers' own (linux/rtnetlink.h,
    // pkt_sched.h, pkt_cls.h, tc_act/tc_mirred.h, if_link.h), imported through CNetlink.
    static let create = UInt16(NLM_F_REQUEST | NLM_F_ACK) | UInt16(NLM_F_EXCL | NLM_F_CREATE)

    public static func handle(_ major: UInt16, _ minor: UInt16 = 0) -> UInt32 { UInt32(major) << 16 | UInt32(minor) }

    static func tcmsg(_ w: inout ByteWriter, ifindex: Int32, handle: UInt32, parent: UInt32, info: UInt32 = 0) {
        TCMsg(ifindex: ifindex, handle: handle, parent: parent, info: info).encode(into: &w)
    }

    static func filterInfo(priority: UInt16, family: IPAddress.Family) -> UInt32 {
        let proto: UInt16 = family == .ipv4 ? 0x0800 : 0x86dd
        return UInt32(priority) << 16 | UInt32(proto.bigEndian)
    }

    /// netfault's root: a 16-band prio whose priomap sends all traffic to band 1, so traffic
    /// no filter claims passes as before; lease filters steer their packets to bands 2...16.
    public static func addRootPrio(ifindex: Int32) -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(&w, ifindex: ifindex, handle: handle(Ownership.rootMajor), parent: TC_H_ROOT)
        w.attr(TCA_KIND) { $0.cString("prio") }
        w.attr(TCA_OPTIONS) { o in
            rootPrioOptions.encode(into: &o)
            o.attr(TCA_OPTIONS) { _ in }  // iproute2's nest_compat marker
        }
        return NetlinkRequest(type: UInt16(RTM_NEWQDISC), flags: create, payload: w.bytes)
    }

    /// 16 bands, every priority to band 1 (index 0 of the priomap).
    static let rootPrioOptions = TCPrioQopt(bands: Int32(Ownership.bands), priomap: [UInt8](repeating: 0, count: 16))

    /// The netem qdisc of one lease under its band.
    public static func addNetem(
        ifindex: Int32, band: UInt16, spec: NetemSpec, distributionTable: [Int16]? = nil
    ) -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(
            &w, ifindex: ifindex, handle: handle(Ownership.netemMajor(band: band)),
            parent: handle(Ownership.rootMajor, band))
        w.attr(TCA_KIND) { $0.cString("netem") }
        w.attr(TCA_OPTIONS) { o in
            netemOptions(&o, spec: spec, distributionTable: distributionTable)
        }
        return NetlinkRequest(type: UInt16(RTM_NEWQDISC), flags: create, payload: w.bytes)
    }

    /// tc_netem_qopt followed directly by attributes, in iproute2's order.
    static func netemOptions(_ o: inout ByteWriter, spec: NetemSpec, distributionTable: [Int16]?) {
        let p = KernelUnits.probability
        var q = TCNetemQopt()
        q.latency = spec.delay.map(KernelUnits.ticks) ?? 0
        q.limit = spec.effectiveLimit
        q.loss = spec.loss.map(p) ?? 0
        q.gap = spec.gap ?? (spec.reorder != nil ? 1 : 0)  // tc sets gap 1 when reorder has none
        q.duplicate = spec.duplicate.map(p) ?? 0
        q.jitter = spec.jitter.map(KernelUnits.ticks) ?? 0
        q.encode(into: &o)
        if spec.delayCorrelation != nil || spec.lossCorrelation != nil {
            let corr = TCNetemCorr(delay: spec.delayCorrelation.map(p) ?? 0, loss: spec.lossCorrelation.map(p) ?? 0)
            o.attr(TCA_NETEM_CORR) { corr.encode(into: &$0) }
        }
        if let reorder = spec.reorder {
            o.attr(TCA_NETEM_REORDER) { TCNetemProbability(p(reorder)).encode(into: &$0) }
        }
        if let corrupt = spec.corrupt {
            o.attr(TCA_NETEM_CORRUPT) { TCNetemProbability(p(corrupt)).encode(into: &$0) }
        }
        if let rate = spec.rate {
            let bytes = KernelUnits.rateBytes(rate)
            if bytes >= 1 << 32 { o.attr(TCA_NETEM_RATE64) { $0.u64(bytes) } }
            o.attr(TCA_NETEM_RATE) { TCNetemRate(rate: UInt32(clamping: bytes)).encode(into: &$0) }
        }
        if let table = distributionTable {
            o.attr(TCA_NETEM_DELAY_DIST) { w in table.forEach { w.u16(UInt16(bitPattern: $0)) } }
        }
    }

    /// The u32 selector of one match: TCP, then the address, then the port (iproute2's key order
    /// for `match ip protocol 6 0xff match ip dst A match ip dport P 0xffff`). Assumes no IPv4
    /// options and no IPv6 extension headers, as tc's own `ip dport` / `ip6 dport` do.
    static func selector(_ m: PortMatch) -> TCU32Selector {
        let v4 = m.family == .ipv4
        // TCP: IPv4's protocol byte (offset 9), IPv6's next header (offset 6).
        var keys = [
            v4
                ? TCU32Key(mask: 0x00ff_0000, value: 0x0006_0000, offset: 8)
                : TCU32Key(mask: 0x0000_ff00, value: 0x0000_0600, offset: 4)
        ]
        if let a = m.address {
            // One key per 32-bit word the prefix reaches, as tc's `match ip6 dst A/N`.
            let base: Int32 = v4 ? (m.side == .destination ? 16 : 12) : (m.side == .destination ? 24 : 8)
            for i in 0..<(v4 ? 1 : (Int(a.length) + 31) / 32) {
                let word = TCU32Key(
                    mask: be32(a.mask, i * 4), value: be32(a.address.bytes, i * 4), offset: base + Int32(i * 4))
                keys.append(word)
            }
        }
        let portOffset: Int32 = v4 ? 20 : 40
        keys.append(
            m.side == .destination
                ? TCU32Key(mask: 0x0000_ffff, value: UInt32(m.port), offset: portOffset)
                : TCU32Key(mask: 0xffff_0000, value: UInt32(m.port) << 16, offset: portOffset))
        return TCU32Selector(keys: keys)
    }

    static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    /// A u32 filter on netfault's root that sends matching packets to a lease's band.
    public static func addBandFilter(ifindex: Int32, band: UInt16, match: PortMatch) -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(
            &w, ifindex: ifindex, handle: 0, parent: handle(Ownership.rootMajor),
            info: filterInfo(priority: Ownership.filterPriority(band: band, family: match.family), family: match.family)
        )
        w.attr(TCA_KIND) { $0.cString("u32") }
        w.attr(TCA_OPTIONS) { o in
            o.attr(TCA_U32_CLASSID) { $0.u32(handle(Ownership.rootMajor, band)) }
            o.attr(TCA_U32_SEL) { selector(match).encode(into: &$0) }
        }
        return NetlinkRequest(type: UInt16(RTM_NEWTFILTER), flags: create, payload: w.bytes)
    }

    /// The ingress qdisc that lets incoming packets be redirected to an ifb device.
    public static func addIngress(ifindex: Int32) -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(&w, ifindex: ifindex, handle: handle(Ownership.ingressMajor), parent: TC_H_INGRESS)
        w.attr(TCA_KIND) { $0.cString("ingress") }
        return NetlinkRequest(type: UInt16(RTM_NEWQDISC), flags: create, payload: w.bytes)
    }

    /// A u32 filter on ingress that redirects matching packets to the ifb device (mirred).
    public static func addRedirectFilter(
        ifindex: Int32, band: UInt16, match: PortMatch, ifbIndex: Int32
    ) -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(
            &w, ifindex: ifindex, handle: 0, parent: handle(Ownership.ingressMajor),
            info: filterInfo(
                priority: Ownership.redirectPriority(band: band, family: match.family), family: match.family))
        w.attr(TCA_KIND) { $0.cString("u32") }
        w.attr(TCA_OPTIONS) { o in
            o.attr(TCA_U32_ACT) { a in
                a.attr(1) { act in  // action order 1
                    act.attr(TCA_ACT_KIND) { $0.cString("mirred") }
                    act.attr(Int32(TCA_ACT_OPTIONS) | NLA_F_NESTED) { opts in
                        let redirect = TCMirred(
                            action: TC_ACT_STOLEN, eaction: TCA_EGRESS_REDIR, ifindex: UInt32(bitPattern: ifbIndex))
                        opts.attr(TCA_MIRRED_PARMS) { redirect.encode(into: &$0) }
                    }
                }
            }
            o.attr(TCA_U32_SEL) { selector(match).encode(into: &$0) }
        }
        return NetlinkRequest(type: UInt16(RTM_NEWTFILTER), flags: create, payload: w.bytes)
    }

    /// Deletes every filter of one priority and protocol under `parent`.
    public static func deleteFilters(
        ifindex: Int32, parent: UInt32, priority: UInt16, family: IPAddress.Family
    ) -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(&w, ifindex: ifindex, handle: 0, parent: parent, info: filterInfo(priority: priority, family: family))
        return NetlinkRequest(type: UInt16(RTM_DELTFILTER), flags: UInt16(NLM_F_REQUEST | NLM_F_ACK), payload: w.bytes)
    }

    /// Removes the u32 filters that steer packets to `band` of netfault's root, one per family.
    public static func deleteBandFilters(
        ifindex: Int32, band: UInt16, families: [IPAddress.Family]
    ) -> [NetlinkRequest] {
        families.map {
            deleteFilters(ifindex: ifindex, parent: handle(Ownership.rootMajor),
                          priority: Ownership.filterPriority(band: band, family: $0), family: $0)
        }
    }

    /// Removes the ingress filters that redirect packets to `band` of the ifb, one per family.
    public static func deleteRedirectFilters(
        ifindex: Int32, band: UInt16, families: [IPAddress.Family]
    ) -> [NetlinkRequest] {
        families.map {
            deleteFilters(ifindex: ifindex, parent: handle(Ownership.ingressMajor),
                          priority: Ownership.redirectPriority(band: band, family: $0), family: $0)
        }
    }

    public static func deleteQdisc(ifindex: Int32, handle h: UInt32, parent: UInt32) -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(&w, ifindex: ifindex, handle: h, parent: parent)
        return NetlinkRequest(type: UInt16(RTM_DELQDISC), flags: UInt16(NLM_F_REQUEST | NLM_F_ACK), payload: w.bytes)
    }

    public static func deleteRoot(ifindex: Int32) -> NetlinkRequest {
        deleteQdisc(ifindex: ifindex, handle: handle(Ownership.rootMajor), parent: TC_H_ROOT)
    }

    public static func deleteNetem(ifindex: Int32, band: UInt16) -> NetlinkRequest {
        deleteQdisc(
            ifindex: ifindex, handle: handle(Ownership.netemMajor(band: band)),
            parent: handle(Ownership.rootMajor, band))
    }

    public static func deleteIngress(ifindex: Int32) -> NetlinkRequest {
        deleteQdisc(ifindex: ifindex, handle: handle(Ownership.ingressMajor), parent: TC_H_INGRESS)
    }

    public static func dumpQdiscs() -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(&w, ifindex: 0, handle: 0, parent: 0)
        return NetlinkRequest(type: UInt16(RTM_GETQDISC), flags: UInt16(NLM_F_REQUEST | NLM_F_DUMP), payload: w.bytes)
    }

    public static func dumpFilters(ifindex: Int32, parent: UInt32) -> NetlinkRequest {
        var w = ByteWriter()
        tcmsg(&w, ifindex: ifindex, handle: 0, parent: parent)
        return NetlinkRequest(type: UInt16(RTM_GETTFILTER), flags: UInt16(NLM_F_REQUEST | NLM_F_DUMP), payload: w.bytes)
    }

    // MARK: links

    static func ifinfomsg(_ w: inout ByteWriter, index: Int32, flags: UInt32 = 0, change: UInt32 = 0) {
        IfInfoMsg(index: index, flags: flags, change: change).encode(into: &w)
    }

    public static func addIfb(name: String) -> NetlinkRequest { addLink(name: name, kind: "ifb") }

    /// A new device of a kind that needs no options (ifb, dummy).
    public static func addLink(name: String, kind: String) -> NetlinkRequest {
        var w = ByteWriter()
        ifinfomsg(&w, index: 0)
        w.attr(IFLA_IFNAME) { $0.cString(name) }
        // iproute2 sends the kind without its NUL (addattr_l(..., strlen(type))); padding follows.
        w.attr(IFLA_LINKINFO) { $0.attr(IFLA_INFO_KIND) { $0.raw(Array(kind.utf8)) } }
        return NetlinkRequest(type: UInt16(RTM_NEWLINK), flags: create, payload: w.bytes)
    }

    public static func setLinkUp(index: Int32) -> NetlinkRequest {
        var w = ByteWriter()
        ifinfomsg(&w, index: index, flags: 1, change: 1)  // IFF_UP
        return NetlinkRequest(type: UInt16(RTM_NEWLINK), flags: UInt16(NLM_F_REQUEST | NLM_F_ACK), payload: w.bytes)
    }

    public static func deleteLink(index: Int32) -> NetlinkRequest {
        var w = ByteWriter()
        ifinfomsg(&w, index: index)
        return NetlinkRequest(type: UInt16(RTM_DELLINK), flags: UInt16(NLM_F_REQUEST | NLM_F_ACK), payload: w.bytes)
    }

    /// Asks which device the kernel routes `address` through.
    public static func getRoute(to address: IPAddress) -> NetlinkRequest {
        var w = ByteWriter()
        RtMsg(family: UInt8(address.family == .ipv4 ? AF_INET : AF_INET6), dstLength: UInt8(address.bytes.count * 8))
            .encode(into: &w)
        w.attr(UInt16(RTA_DST.rawValue)) { $0.raw(address.bytes) }
        return NetlinkRequest(type: UInt16(RTM_GETROUTE), flags: UInt16(NLM_F_REQUEST), payload: w.bytes)
    }
}
