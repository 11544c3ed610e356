import CNetlink
import Foundation
import NetFaultCore

/// A network device, as libnl-route's link cache reports it.
public struct LinkInfo: Sendable, Equatable {
    public let index: Int32
    public let name: String
    public let isLoopback: Bool
}

extension NetlinkSocket {
    /// All devices in this network namespace (libnl-route link cache).
    public func links() throws -> [LinkInfo] {
        var cache: OpaquePointer?
        let rc = rtnl_link_alloc_cache(sock, Int32(AF_UNSPEC), &cache)
        guard rc >= 0, let cache else {
            throw KernelError(operation: "listing network devices", errno: EIO, extendedAck: String(cString: nl_geterror(rc)))
        }
        defer { nl_cache_free(cache) }
        var out: [LinkInfo] = []
        var obj = nl_cache_get_first(cache)
        while let o = obj {
            let link = o
            let name = rtnl_link_get_name(link).map { String(cString: $0) } ?? ""
            let flags = rtnl_link_get_flags(link)
            out.append(LinkInfo(index: Int32(rtnl_link_get_ifindex(link)), name: name,
                                isLoopback: flags & UInt32(IFF_LOOPBACK) != 0))
            obj = nl_cache_get_next(o)
        }
        return out
    }

    public func link(named name: String) throws -> LinkInfo? {
        try links().first { $0.name == name }
    }

    /// The device the kernel routes `address` through (RTM_GETROUTE, RTA_OIF).
    public func routeDevice(to address: IPAddress) throws -> Int32? {
        let replies = try transact(TCRequests.getRoute(to: address), "looking up the route to \(address)")
        for msg in replies where msg.type == NL.newRoute && msg.payload.count >= 12 {
            if let oif = Attributes(msg.payload[12...]).u32(4) { return Int32(bitPattern: oif) }  // RTA_OIF
        }
        return nil
    }
}
