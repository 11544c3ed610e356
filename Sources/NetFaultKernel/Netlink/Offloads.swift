import CNetlink
import NetFaultCore

/// Reads segmentation offloads with the legacy SIOCETHTOOL ioctl (ETHTOOL_GGSO, GTSO, GGRO) and
/// the MTU with SIOCGIFMTU: no capability needed, so it works in a container with
/// CAP_NET_ADMIN or none, and no ethtool process. What a driver does not report is unknown;
/// reading never fails a command.
extension SegmentationOffloads {
    /// `device` as the calling thread's network namespace holds it.
    public static func read(device: String) -> SegmentationOffloads {
        func flag(_ command: Int32) -> Bool? {
            var value: UInt32 = 0
            return nf_ethtool_get(device, UInt32(command), &value) == 0 ? value != 0 : nil
        }
        var mtu: UInt32 = 0
        return SegmentationOffloads(
            device: device, gso: flag(ETHTOOL_GGSO), tso: flag(ETHTOOL_GTSO), gro: flag(ETHTOOL_GGRO),
            mtu: nf_if_mtu(device, &mtu) == 0 ? mtu : nil)
    }

    /// `device` in a lease's namespace; all unknown when that cannot be entered.
    public static func read(device: String, in namespace: NetworkNamespace?) -> SegmentationOffloads {
        (try? inNamespace(namespace) { read(device: device) })
            ?? SegmentationOffloads(device: device, gso: nil, tso: nil, gro: nil, mtu: nil)
    }

    /// The devices doctor reports on: loopback and every other device that is up.
    public static func readAll() throws -> [SegmentationOffloads] {
        try NetlinkSocket().links().filter { $0.isLoopback || $0.isUp }.map { read(device: $0.name) }
    }
}
