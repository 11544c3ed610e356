import FoundationEssentials
import Glibc

/// A kernel feature netfault probes before it relies on it. The raw value is the name
/// `netfault doctor` prints, the probe cache keeps and a FeatureMissing error names.
public enum KernelFeature: String, CaseIterable, Codable, Sendable {
    case netem
    case prio
    case htb
    case u32
    case ifbMirred = "ifb+mirred"
    case unixDiag = "unix_diag"
    case scratchDevice = "scratch device"
    case nfTablesInet = "nf_tables inet"
    case nfTablesOwnerTables = "nf_tables owner tables"
    case nfTablesRules = "nf_tables rules"
    case nfTablesConnectionDraws = "nf_tables connection draws"
    case nfTablesConnectionLife = "nf_tables connection life"
    case nfTablesMSSClamp = "nf_tables mss clamp"
    case nfTablesSocketScope = "nf_tables socket scope"

    /// What netem faults need (netem under netfault's prio root, u32 filters, claims).
    public static let netemFaults: [KernelFeature] = [.netem, .prio, .u32, .unixDiag]
    /// What connection faults, and the steering of netem bands by nf_tables, need.
    public static let filterFaults: [KernelFeature] = [.nfTablesInet, .nfTablesOwnerTables, .nfTablesRules]
    /// What --connections needs besides the connection faults' features.
    public static let connectionDraws: [KernelFeature] = [.nfTablesConnectionDraws]
    /// What --reset-after, --hang-after and --limit-data need besides the connection faults' features.
    public static let connectionLife: [KernelFeature] = [.nfTablesConnectionLife]
    /// What --slice needs besides the connection faults' features.
    public static let mssClamp: [KernelFeature] = [.nfTablesMSSClamp]
    /// What --uid, --cgroup and run --scope command need besides those.
    public static let socketScope: [KernelFeature] = [.nfTablesConnectionDraws, .nfTablesSocketScope]
    /// The traffic-control features the probe tries on its scratch devices.
    public static let trafficControl: [KernelFeature] = [.netem, .prio, .htb, .u32, .ifbMirred]

    /// Where distributions split modules out of the kernel package (netem, ifb, prio, ...).
    static func modulesPackage(kernel: String) -> String {
        "on Ubuntu install linux-modules-extra-\(kernel), on RHEL and Fedora kernel-modules-extra"
    }

    /// What to do when the feature is missing.
    public var remedy: String {
        let extra = Self.modulesPackage(kernel: ProbeCache.Key.current().kernel)
        switch self {
        case .netem:
            return
                """
                the kernel needs CONFIG_NET_SCH_NETEM: modprobe sch_netem (\(extra)); delay, loss, duplicate, \
                corrupt, reorder and rate need it
                """
        case .prio: return "the kernel needs CONFIG_NET_SCH_PRIO: modprobe sch_prio (\(extra))"
        case .htb: return "the kernel needs CONFIG_NET_SCH_HTB: modprobe sch_htb (not needed for netem faults)"
        case .u32: return "the kernel needs CONFIG_NET_CLS_U32: modprobe cls_u32"
        case .ifbMirred:
            return
                """
                incoming (from-server) faults on remote servers need CONFIG_IFB and CONFIG_NET_ACT_MIRRED: modprobe \
                ifb act_mirred (\(extra))
                """
        case .unixDiag:
            return
                """
                the kernel needs CONFIG_UNIX_DIAG (modprobe unix_diag) and Linux 5.3 or later: netfault finds which \
                live netfault holds a netem band by asking it for root's listening unix sockets
                """
        case .scratchDevice:
            return "the probe needs a scratch device: CONFIG_IFB or CONFIG_DUMMY (modprobe ifb; \(extra))"
        case .nfTablesInet:
            return
                """
                connection faults (--blackhole, --reject, --reset, --hang, --loss-nft) need CONFIG_NF_TABLES and \
                CONFIG_NF_TABLES_INET: modprobe nf_tables
                """
        case .nfTablesOwnerTables:
            return
                """
                connection faults need Linux 5.12 or later: a lease's table must die with its watchdog \
                (NFT_TABLE_F_OWNER)
                """
        case .nfTablesRules:
            return
                """
                connection faults need sets with timeouts and the reject, numgen and counter expressions: \
                CONFIG_NFT_REJECT_INET, CONFIG_NFT_NUMGEN, CONFIG_NFT_COUNTER (modprobe nft_reject_inet \
                nft_numgen); without them netem faults fall back to u32 filters, whose deadline only the \
                watchdog keeps
                """
        case .nfTablesConnectionDraws:
            return
                """
                --connections needs dynamic sets keyed by addresses and ports (CONFIG_NFT_SET_HASH), the dynset \
                and numgen expressions (CONFIG_NFT_NUMGEN; modprobe nft_set_hash nft_numgen) and Linux 5.6 or later
                """
        case .nfTablesMSSClamp:
            return
                """
                --slice needs the exthdr expression writing TCP options (`tcp option maxseg size set`, \
                CONFIG_NFT_EXTHDR; modprobe nft_exthdr) and Linux 5.8 or later
                """
        case .nfTablesConnectionLife:
            return
                """
                --reset-after, --hang-after and --limit-data need dynamic sets keyed by addresses and ports \
                (CONFIG_NFT_SET_HASH), a quota per set element (CONFIG_NFT_QUOTA), the payload writes of \
                `tcp flags set` and Linux 5.11 or later (modprobe nft_set_hash nft_quota)
                """
        case .nfTablesSocketScope:
            return
                """
                --uid, --cgroup and run --scope command need the socket expression with cgroup v2 levels and meta \
                skuid: CONFIG_NFT_SOCKET (modprobe nft_socket) and Linux 5.13 or later; inside a cgroup namespace \
                (a container) Linux 6.1.112, 6.6.53, 6.11 or later
                """
        }
    }
}

extension FeatureResult {
    /// The result of probing a kernel feature, under the feature's doctor name.
    public init(_ feature: KernelFeature, ok: Bool, detail: String, remedy: String?) {
        self.init(feature: feature.rawValue, ok: ok, detail: detail, remedy: remedy)
    }

    /// The kernel feature this row is about; nil for doctor's other rows (capabilities, offloads).
    public var kernelFeature: KernelFeature? { KernelFeature(rawValue: feature) }
}
