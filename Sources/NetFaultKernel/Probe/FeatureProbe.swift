import CNetlink
import Foundation
import NetFaultCore

/// One kernel feature netfault uses, whether it works here, and what to do if not.
public struct FeatureResult: Codable, Sendable, Equatable {
    public let feature: String
    public let ok: Bool
    public let detail: String
    public let remedy: String?

    public init(feature: String, ok: Bool, detail: String, remedy: String?) {
        self.feature = feature; self.ok = ok; self.detail = detail; self.remedy = remedy
    }
}

/// Probes kernel features by using them. Must run inside a throw-away network namespace
/// (`netfault __probe` unshares one first), so nothing on the real devices is touched.
public enum FeatureProbe {
    public static let command = "__probe"

    /// Moves this process into a new, empty network namespace (only this process sees it).
    public static func enterThrowawayNamespace() -> Bool { nf_unshare_netns() == 0 }

    /// Probes `only` those features (all when nil): apply needs three, doctor all of them.
    public static func runInCurrentNamespace(only: Set<String>? = nil) -> [FeatureResult] {
        var results: [FeatureResult] = []
        func record(_ feature: String, _ remedy: String, _ body: () throws -> Void) {
            if let only, !only.contains(feature) { return }
            do {
                try body()
                results.append(FeatureResult(feature: feature, ok: true, detail: "works", remedy: nil))
            } catch {
                results.append(FeatureResult(feature: feature, ok: false, detail: "\(error)", remedy: remedy))
            }
        }
        guard let nl = try? NetlinkSocket(), let lo = try? nl.links().first(where: \.isLoopback) else {
            return [FeatureResult(feature: "rtnetlink", ok: false, detail: "cannot open an rtnetlink socket", remedy: "run on Linux with CAP_NET_ADMIN")]
        }
        let i = lo.index
        let root = TCRequests.handle(Ownership.rootMajor)
        record("netem", "the kernel needs CONFIG_NET_SCH_NETEM: modprobe sch_netem (delay, loss, duplicate, corrupt, reorder, rate need it)") {
            var w = ByteWriter()
            TCRequests.tcmsg(&w, ifindex: i, handle: root, parent: TCRequests.TC_H_ROOT)
            w.attr(TCRequests.TCA_KIND) { $0.cString("netem") }
            w.attr(TCRequests.TCA_OPTIONS) { TCRequests.netemOptions(&$0, spec: NetemSpec(delay: .milliseconds(1)), distributionTable: nil) }
            try nl.perform(NetlinkRequest(type: NL.newQdisc, flags: TCRequests.create, payload: w.bytes), "adding a netem qdisc")
            try nl.perform(TCRequests.deleteRoot(ifindex: i), "removing a netem qdisc")
        }
        record("prio", "the kernel needs CONFIG_NET_SCH_PRIO: modprobe sch_prio") {
            try nl.perform(TCRequests.addRootPrio(ifindex: i), "adding a prio qdisc")
            try nl.perform(TCRequests.deleteRoot(ifindex: i), "removing a prio qdisc")
        }
        record("htb", "the kernel needs CONFIG_NET_SCH_HTB: modprobe sch_htb (not needed for netem faults)") {
            var w = ByteWriter()
            TCRequests.tcmsg(&w, ifindex: i, handle: root, parent: TCRequests.TC_H_ROOT)
            w.attr(TCRequests.TCA_KIND) { $0.cString("htb") }
            w.attr(TCRequests.TCA_OPTIONS) { o in
                o.attr(2) { g in g.u32(3); g.u32(10); g.u32(0); g.u32(0); g.u32(0) }  // TCA_HTB_INIT: version, r2q, defcls
            }
            try nl.perform(NetlinkRequest(type: NL.newQdisc, flags: TCRequests.create, payload: w.bytes), "adding an htb qdisc")
            try nl.perform(TCRequests.deleteRoot(ifindex: i), "removing an htb qdisc")
        }
        record("u32", "the kernel needs CONFIG_NET_CLS_U32: modprobe cls_u32") {
            try nl.perform(TCRequests.addIngress(ifindex: i), "adding an ingress qdisc")
            defer { try? nl.perform(TCRequests.deleteIngress(ifindex: i), "cleanup") }
            var w = ByteWriter()
            TCRequests.tcmsg(&w, ifindex: i, handle: 0, parent: TCRequests.handle(Ownership.ingressMajor),
                             info: TCRequests.filterInfo(priority: 1, family: .ipv4))
            w.attr(TCRequests.TCA_KIND) { $0.cString("u32") }
            w.attr(TCRequests.TCA_OPTIONS) { $0.attr(TCRequests.U32_SEL) { TCRequests.selector(&$0, PortMatch(family: .ipv4, side: .destination, port: 9)) } }
            try nl.perform(NetlinkRequest(type: NL.newTFilter, flags: TCRequests.create, payload: w.bytes), "adding a u32 filter")
        }
        record("ifb+mirred", "incoming (from-server) faults on remote servers need CONFIG_IFB and CONFIG_NET_ACT_MIRRED: modprobe ifb act_mirred") {
            try nl.perform(TCRequests.addIfb(name: "nfprobe0"), "creating an ifb device")
            guard let ifb = try nl.link(named: "nfprobe0") else { throw KernelError(operation: "finding the ifb device", errno: ENODEV) }
            defer { try? nl.perform(TCRequests.deleteLink(index: ifb.index), "cleanup") }
            try nl.perform(TCRequests.addIngress(ifindex: i), "adding an ingress qdisc")
            defer { try? nl.perform(TCRequests.deleteIngress(ifindex: i), "cleanup") }
            try nl.perform(TCRequests.addRedirectFilter(ifindex: i, band: 2, match: PortMatch(family: .ipv4, side: .source, port: 9), ifbIndex: ifb.index), "adding a mirred redirect")
        }
        let nft = try? NetlinkSocket(netlinkProtocol: NETLINK_NETFILTER)
        record("nf_tables inet", "connection faults (--blackhole, --reject, --reset, --hang, --loss-nft) need CONFIG_NF_TABLES and CONFIG_NF_TABLES_INET: modprobe nf_tables") {
            guard let nft else { throw KernelError(operation: "opening a netfilter netlink socket", errno: EPROTONOSUPPORT) }
            try nft.batch({ NFTablesRequests.tableBatch(name: "netfault_probe", owner: false, seq: $0) }, "creating an inet table")
            try nft.batch({ NFTablesRequests.deleteBatch(table: "netfault_probe", seq: $0) }, "deleting an inet table")
        }
        record("nf_tables owner tables", "connection faults need Linux 5.12 or later: a lease's table must die with its watchdog (NFT_TABLE_F_OWNER)") {
            guard let nft else { throw KernelError(operation: "opening a netfilter netlink socket", errno: EPROTONOSUPPORT) }
            // Goes with the socket when the probe exits.
            try nft.batch({ NFTablesRequests.tableBatch(name: "netfault_probe_owner", owner: true, seq: $0) }, "creating an owner table")
        }
        record("nf_tables rules", "connection faults need the reject, numgen and counter expressions: CONFIG_NFT_REJECT_INET, CONFIG_NFT_NUMGEN, CONFIG_NFT_COUNTER (modprobe nft_reject_inet nft_numgen)") {
            guard let nft else { throw KernelError(operation: "opening a netfilter netlink socket", errno: EPROTONOSUPPORT) }
            try NFTables(socket: nft).install(Self.rulesProbe)
            try nft.batch({ NFTablesRequests.deleteBatch(table: Self.rulesProbe.table, seq: $0) }, "deleting the probe's table")
        }
        return results
    }

    /// One rule of every kind the connection faults use, IPv4 and IPv6, in both chains.
    static let rulesProbe: FilterPlan = {
        let target = Target(ports: [9])
        let peers = [IPPrefix(address: IPAddress(bytes: [10, 64, 0, 0]), length: 10), IPPrefix(host: IPAddress(bytes: Array(repeating: 0, count: 15) + [1]))]
        let specs = [FilterSpec(action: .reject, loss: Percent(5)), FilterSpec(action: .reset), FilterSpec(action: .hang)]
        let rules = specs.flatMap {
            FilterPlanner.plan(leaseID: "probe", target: target, peers: peers, direction: .both, spec: $0)?.rules ?? []
        }
        return FilterPlan(table: "netfault_probe_rules", rules: rules)
    }()
}
