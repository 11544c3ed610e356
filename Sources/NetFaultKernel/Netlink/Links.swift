import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// A network device, as an RTM_GETLINK dump reports it.
public struct LinkInfo: Sendable, Equatable {
    public let index: Int32
    public let name: String
    public let isLoopback: Bool
    public let isUp: Bool

    /// Parses an RTM_NEWLINK message.
    init?(_ msg: NetlinkMessage) {
        guard msg.type == UInt16(RTM_NEWLINK), let info = IfInfoMsg(decoding: msg.payload) else { return nil }
        let attrs = Attributes(msg.payload[IfInfoMsg.size...])
        index = info.ifi_index
        name = attrs.string(UInt16(IFLA_IFNAME)) ?? ""
        isLoopback = info.ifi_flags & UInt32(IFF_LOOPBACK) != 0
        isUp = info.ifi_flags & UInt32(IFF_UP) != 0
    }

    /// A device as given (a stand-in kernel's, in tests).
    public init(index: Int32, name: String, isLoopback: Bool, isUp: Bool = true) {
        self.index = index; self.name = name; self.isLoopback = isLoopback; self.isUp = isUp
    }
}

extension NetlinkSocket {
    /// All devices in this network namespace.
    public func links() throws -> [LinkInfo] {
        var w = ByteWriter()
        IfInfoMsg(index: 0).encode(into: &w)
        let request = NetlinkRequest(
            type: UInt16(RTM_GETLINK), flags: UInt16(NLM_F_REQUEST | NLM_F_DUMP), payload: w.bytes)
        return try dump(request, "listing network devices").compactMap(LinkInfo.init)
    }

    public func link(named name: String) throws -> LinkInfo? {
        try links().first { $0.name == name }
    }

    /// The device the kernel routes `address` through (RTM_GETROUTE, RTA_OIF).
    public func routeDevice(to address: IPAddress) throws -> Int32? {
        let replies = try transact(TCRequests.getRoute(to: address), "looking up the route to \(address)")
        for msg in replies where msg.type == UInt16(RTM_NEWROUTE) && msg.payload.count >= RtMsg.size {
            if let oif = Attributes(msg.payload[RtMsg.size...]).u32(UInt16(RTA_OIF.rawValue)) {
                return Int32(bitPattern: oif)
            }
        }
        return nil
    }
}
