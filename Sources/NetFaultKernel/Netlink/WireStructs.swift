import FoundationEssentials
import Glibc

/// The fixed headers that open rtnetlink payloads, with the kernel's field names, each encoded
/// and decoded in one place (host byte order, as rtnetlink is). Attributes follow them.

/// struct tcmsg (linux/rtnetlink.h): a qdisc, class or filter.
public struct TCMsg: Equatable, Sendable {
    public static let size = 20
    public var tcm_family: UInt8 = 0
    public var tcm_ifindex: Int32
    public var tcm_handle: UInt32
    public var tcm_parent: UInt32
    /// For a filter: priority << 16 | protocol (network byte order).
    public var tcm_info: UInt32 = 0

    public init(ifindex: Int32, handle: UInt32, parent: UInt32, info: UInt32 = 0) {
        tcm_ifindex = ifindex; tcm_handle = handle; tcm_parent = parent; tcm_info = info
    }

    public func encode(into w: inout ByteWriter) {
        w.u8(tcm_family); w.u8(0); w.u16(0)  // tcm__pad1, tcm__pad2
        w.i32(tcm_ifindex); w.u32(tcm_handle); w.u32(tcm_parent); w.u32(tcm_info)
    }

    /// nil when the payload is too short to hold one.
    public init?(decoding p: [UInt8]) {
        guard p.count >= Self.size else { return nil }
        tcm_family = p[0]
        tcm_ifindex = Int32(bitPattern: p.le32(at: 4))
        tcm_handle = p.le32(at: 8)
        tcm_parent = p.le32(at: 12)
        tcm_info = p.le32(at: 16)
    }
}

/// struct ifinfomsg (linux/rtnetlink.h): a network device.
public struct IfInfoMsg: Equatable, Sendable {
    public static let size = 16
    public var ifi_family: UInt8 = 0
    public var ifi_type: UInt16 = 0
    public var ifi_index: Int32
    public var ifi_flags: UInt32 = 0
    public var ifi_change: UInt32 = 0

    public init(index: Int32, flags: UInt32 = 0, change: UInt32 = 0) {
        ifi_index = index; ifi_flags = flags; ifi_change = change
    }

    public func encode(into w: inout ByteWriter) {
        w.u8(ifi_family); w.u8(0); w.u16(ifi_type)  // __ifi_pad
        w.i32(ifi_index); w.u32(ifi_flags); w.u32(ifi_change)
    }

    public init?(decoding p: [UInt8]) {
        guard p.count >= Self.size else { return nil }
        ifi_family = p[0]
        ifi_type = p.le16(at: 2)
        ifi_index = Int32(bitPattern: p.le32(at: 4))
        ifi_flags = p.le32(at: 8)
        ifi_change = p.le32(at: 12)
    }
}

/// struct rtmsg (linux/rtnetlink.h): a route.
public struct RtMsg: Equatable, Sendable {
    public static let size = 12
    public var rtm_family: UInt8
    public var rtm_dst_len: UInt8
    public var rtm_src_len: UInt8 = 0
    public var rtm_tos: UInt8 = 0
    public var rtm_table: UInt8 = 0
    public var rtm_protocol: UInt8 = 0
    public var rtm_scope: UInt8 = 0
    public var rtm_type: UInt8 = 0
    public var rtm_flags: UInt32 = 0

    public init(family: UInt8, dstLength: UInt8) { rtm_family = family; rtm_dst_len = dstLength }

    public func encode(into w: inout ByteWriter) {
        for b in [rtm_family, rtm_dst_len, rtm_src_len, rtm_tos, rtm_table, rtm_protocol, rtm_scope, rtm_type] {
            w.u8(b)
        }
        w.u32(rtm_flags)
    }

    public init?(decoding p: [UInt8]) {
        guard p.count >= Self.size else { return nil }
        rtm_family = p[0]; rtm_dst_len = p[1]; rtm_src_len = p[2]; rtm_tos = p[3]
        rtm_table = p[4]; rtm_protocol = p[5]; rtm_scope = p[6]; rtm_type = p[7]
        rtm_flags = p.le32(at: 8)
    }
}
