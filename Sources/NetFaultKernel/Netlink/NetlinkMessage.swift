import CNetlink
import FoundationEssentials
import Glibc

/// Byte-level netlink message building. Pure: no sockets, so every request is testable
/// against the bytes a real `tc` sends for the same thing.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    /// rtnetlink values are host-endian (little-endian on every machine netfault supports).
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func be16(_ v: UInt16) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func be32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    public mutating func cString(_ s: String) { bytes.append(contentsOf: Array(s.utf8)); bytes.append(0) }
    public mutating func pad() { while bytes.count % 4 != 0 { bytes.append(0) } }

    /// An attribute named by a kernel header's constant (whatever integer type it imports as).
    public mutating func attr<T: BinaryInteger>(_ type: T, _ body: (inout ByteWriter) -> Void) {
        attr(UInt16(type), body)
    }

    /// Appends an attribute whose payload `body` writes; fixes its length afterwards.
    public mutating func attr(_ type: UInt16, _ body: (inout ByteWriter) -> Void) {
        let start = bytes.count
        u16(0); u16(type)
        body(&self)
        let len = UInt16(bytes.count - start)
        bytes[start] = UInt8(len & 0xff); bytes[start + 1] = UInt8(len >> 8)
        pad()
    }
}

/// The size of struct nlmsghdr (NLMSG_HDRLEN, a macro Swift cannot import). Every other
/// netlink constant is the kernel header's own, through CNetlink.
public let nlmsgHeaderSize = MemoryLayout<nlmsghdr>.size

/// A request before the socket stamps its sequence number.
public struct NetlinkRequest: Sendable, Equatable {
    public let type: UInt16
    public let flags: UInt16
    /// Everything after the 16-byte header.
    public let payload: [UInt8]
    public init(type: UInt16, flags: UInt16, payload: [UInt8]) {
        self.type = type; self.flags = flags; self.payload = payload
    }

    /// The full message with header; `seq` and `pid` as the sender fills them.
    public func bytes(seq: UInt32, pid: UInt32 = 0) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(nlmsgHeaderSize + payload.count))
        w.u16(type); w.u16(flags); w.u32(seq); w.u32(pid)
        w.raw(payload)
        return w.bytes
    }
}

/// One parsed netlink message.
public struct NetlinkMessage: Sendable {
    public let type: UInt16
    public let flags: UInt16
    public let seq: UInt32
    /// nlmsg_pid: the port the message is addressed to (a reply carries the requester's).
    public let port: UInt32
    public let payload: [UInt8]

    public init(type: UInt16, flags: UInt16, seq: UInt32, port: UInt32 = 0, payload: [UInt8]) {
        self.type = type; self.flags = flags; self.seq = seq; self.port = port; self.payload = payload
    }

    /// The message as bytes, header included.
    public var bytes: [UInt8] { NetlinkRequest(type: type, flags: flags, payload: payload).bytes(seq: seq, pid: port) }

    /// Splits a received datagram into messages.
    public static func parse(_ data: [UInt8]) -> [NetlinkMessage] {
        var out: [NetlinkMessage] = []
        var off = 0
        while off + nlmsgHeaderSize <= data.count {
            let len = Int(data.le32(at: off))
            guard len >= nlmsgHeaderSize, off + len <= data.count else { break }
            out.append(
                NetlinkMessage(
                    type: data.le16(at: off + 4), flags: data.le16(at: off + 6),
                    seq: data.le32(at: off + 8), port: data.le32(at: off + 12),
                    payload: Array(data[(off + 16)..<(off + len)])))
            off += (len + 3) & ~3
        }
        return out
    }
}

/// Attributes of a netlink message, by type (the last one wins, as in the kernel's nla_parse).
public struct Attributes: Sendable {
    public let byType: [UInt16: [UInt8]]
    public init(_ bytes: ArraySlice<UInt8>) {
        var m: [UInt16: [UInt8]] = [:]
        var off = bytes.startIndex
        while off + 4 <= bytes.endIndex {
            let len = Int(bytes.le16(at: off))
            let type = bytes.le16(at: off + 2) & ~UInt16(NLA_F_NESTED | NLA_F_NET_BYTEORDER)
            guard len >= 4, off + len <= bytes.endIndex else { break }
            m[type] = Array(bytes[(off + 4)..<(off + len)])
            off += (len + 3) & ~3
        }
        byType = m
    }
    public init(_ bytes: [UInt8]) { self.init(bytes[...]) }
    public subscript(_ type: UInt16) -> [UInt8]? { byType[type] }
    /// By a kernel header's constant.
    public subscript<T: BinaryInteger>(_ type: T) -> [UInt8]? { byType[UInt16(type)] }
    public func string<T: BinaryInteger>(_ type: T) -> String? { string(UInt16(type)) }
    public func u32<T: BinaryInteger>(_ type: T) -> UInt32? { u32(UInt16(type)) }
    public func string(_ type: UInt16) -> String? {
        byType[type].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    public func u32(_ type: UInt16) -> UInt32? {
        byType[type].flatMap { $0.count >= 4 ? $0.le32(at: 0) : nil }
    }
}

extension Collection where Element == UInt8, Index == Int {
    func le16(at i: Int) -> UInt16 { UInt16(self[i]) | UInt16(self[i + 1]) << 8 }
    func le32(at i: Int) -> UInt32 {
        UInt32(self[i]) | UInt32(self[i + 1]) << 8 | UInt32(self[i + 2]) << 16 | UInt32(self[i + 3]) << 24
    }
    func le64(at i: Int) -> UInt64 { UInt64(le32(at: i)) | UInt64(le32(at: i + 4)) << 32 }
}
