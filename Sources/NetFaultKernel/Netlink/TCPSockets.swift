import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// A TCP socket as sock_diag reports it: enough to tell whose it is (the inode a process's
/// fd links to) and where it goes.
public struct TCPSocket: Sendable, Equatable {
    /// The kernel's TCP state (TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2, ...).
    public let state: UInt8
    public let localPort: UInt16
    public let remotePort: UInt16
    /// 0 once no process holds it (TIME-WAIT, orphans).
    public let inode: UInt32

    public init(state: UInt8, localPort: UInt16, remotePort: UInt16, inode: UInt32) {
        self.state = state; self.localPort = localPort; self.remotePort = remotePort; self.inode = inode
    }

    /// A connect that has not completed.
    public var isConnecting: Bool { state == UInt8(TCP_SYN_SENT) }

    /// Whether it is, or was, a connection: not connecting, and not CLOSE, where a refused
    /// connect's socket stays until its process closes it.
    public var hasConnected: Bool { !isConnecting && state != UInt8(TCP_CLOSE) }
}

/// Every TCP socket but listeners, from sock_diag (the kernel's own table, not `ss` output):
/// the fault matrix samples which connections a command holds every 100 ms.
public final class TCPSockets {
    private let socket: NetlinkSocket

    public init(in namespace: NetworkNamespace? = nil) throws {
        socket = try NetlinkSocket.open(in: namespace, netlinkProtocol: NETLINK_SOCK_DIAG)
    }

    public func dump() throws -> [TCPSocket] {
        var out: [TCPSocket] = []
        for family in [AF_INET, AF_INET6] {
            out += try socket.dump(Self.request(family: UInt8(family)), "listing TCP sockets").compactMap(Self.parse)
        }
        return out
    }

    /// Every state but LISTEN: states run from TCP_ESTABLISHED (1) to TCP_CLOSING (11).
    static let allButListening: UInt32 = 0xFFE & ~(1 << UInt32(TCP_LISTEN))

    /// SOCK_DIAG_BY_FAMILY with struct inet_diag_req_v2: TCP sockets of `family` in `states`
    /// (a bit per TCP state), any address.
    static func request(family: UInt8, states: UInt32 = allButListening) -> NetlinkRequest {
        var w = ByteWriter()
        w.u8(family)
        w.u8(UInt8(IPPROTO_TCP))
        w.u8(0)  // idiag_ext: no extensions
        w.u8(0)  // pad
        w.u32(states)  // idiag_states
        w.raw([UInt8](repeating: 0, count: MemoryLayout<inet_diag_sockid>.size))  // any socket
        return NetlinkRequest(
            type: UInt16(SOCK_DIAG_BY_FAMILY), flags: UInt16(NLM_F_REQUEST | NLM_F_DUMP), payload: w.bytes)
    }

    /// struct inet_diag_msg: family, state, timer, retrans, then the sockid (ports big-endian),
    /// then expires, queues, uid and the inode (host order).
    static func parse(_ msg: NetlinkMessage) -> TCPSocket? {
        let p = msg.payload
        guard msg.type == UInt16(SOCK_DIAG_BY_FAMILY), p.count >= MemoryLayout<inet_diag_msg>.size,
            let at = MemoryLayout<inet_diag_msg>.offset(of: \inet_diag_msg.idiag_inode)
        else { return nil }
        let inode = p[at..<at + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        return TCPSocket(
            state: p[1], localPort: UInt16(p[4]) << 8 | UInt16(p[5]), remotePort: UInt16(p[6]) << 8 | UInt16(p[7]),
            inode: inode)
    }
}
