import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// One end of a TCP connection, as its own socket sees it: its address, then its peer's.
/// Addresses are 4 bytes (IPv4) or 16 (IPv6, v4-mapped ones included).
public struct TCPEnds: Sendable, Equatable, CustomStringConvertible {
    public let local: [UInt8]
    public let localPort: UInt16
    public let remote: [UInt8]
    public let remotePort: UInt16

    public init(local: [UInt8], localPort: UInt16, remote: [UInt8], remotePort: UInt16) {
        self.local = local; self.localPort = localPort; self.remote = remote; self.remotePort = remotePort
    }

    public var description: String { "\(Self.text(local)):\(localPort) -> \(Self.text(remote)):\(remotePort)" }

    static func text(_ a: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = a.count == 4 ? AF_INET : AF_INET6
        _ = a.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &out, socklen_t(out.count)) }
        return String(cString: out)
    }
}

/// Who owns a TCP socket, asked of sock_diag by the socket's exact four addresses
/// (inet_diag_find_one_icsk) in this process's network namespace: on loopback both ends of a
/// connection are in it, so the daemon learns which user opened the connection that calls it.
public enum TCPSocketOwner {
    /// The uid that created the socket at `ends`. Throws when no live socket has exactly these
    /// ends: a closed or orphaned socket (TIME-WAIT, or no process holds it) reports no owner,
    /// and a listener found in its place is not the caller.
    public static func uid(of ends: TCPEnds) throws -> uid_t {
        do {
            let socket = try NetlinkSocket.open(in: nil, netlinkProtocol: NETLINK_SOCK_DIAG)
            let replies = try socket.transact(request(ends), "finding the owner of the TCP socket \(ends)")
            for msg in replies {
                if let uid = parse(msg, ends: ends) { return uid }
            }
        } catch is KernelError {
            // A kernel without tcp_diag (a module not loaded) answers ENOENT as for no socket:
            // ask /proc/net/tcp, which shows the same sockets with the same uid and inode.
            if let uid = fromProc(ends) { return uid }
        }
        throw KernelError(
            operation: "finding the owner of the TCP socket \(ends)", errno: ENOENT, source: .netfault,
            detail: "no open socket with these addresses")
    }

    /// SOCK_DIAG_BY_FAMILY without NLM_F_DUMP: struct inet_diag_req_v2 with a full sockid and
    /// INET_DIAG_NOCOOKIE. Both ends v4-mapped: asked as IPv4, where the kernel hashes them.
    static func request(_ ends: TCPEnds) -> NetlinkRequest {
        let (local, remote) = (unmapped(ends.local), unmapped(ends.remote))
        var w = ByteWriter()
        w.u8(UInt8(local.count == 4 && remote.count == 4 ? AF_INET : AF_INET6))
        w.u8(UInt8(IPPROTO_TCP))
        w.u8(0)  // idiag_ext
        w.u8(0)  // pad
        w.u32(0xFFF)  // idiag_states: any (an exact lookup ignores them)
        w.be16(ends.localPort)  // idiag_sport
        w.be16(ends.remotePort)  // idiag_dport
        w.raw(padded(local))  // idiag_src
        w.raw(padded(remote))  // idiag_dst
        w.u32(0)  // idiag_if
        w.u32(UInt32.max)  // idiag_cookie: INET_DIAG_NOCOOKIE
        w.u32(UInt32.max)
        return NetlinkRequest(type: UInt16(SOCK_DIAG_BY_FAMILY), flags: UInt16(NLM_F_REQUEST), payload: w.bytes)
    }

    /// The owner from struct inet_diag_msg, when it is the socket asked for and a process holds
    /// it: same ports, a connection's state (not LISTEN, SYN-RECV or TIME-WAIT, whose uid the
    /// kernel reports as 0), and an inode.
    static func parse(_ msg: NetlinkMessage, ends: TCPEnds) -> uid_t? {
        let p = msg.payload
        guard msg.type == UInt16(SOCK_DIAG_BY_FAMILY), p.count >= MemoryLayout<inet_diag_msg>.size,
            let uidAt = MemoryLayout<inet_diag_msg>.offset(of: \inet_diag_msg.idiag_uid),
            let inodeAt = MemoryLayout<inet_diag_msg>.offset(of: \inet_diag_msg.idiag_inode)
        else { return nil }
        let state = Int(p[1])
        let localPort = UInt16(p[4]) << 8 | UInt16(p[5]), remotePort = UInt16(p[6]) << 8 | UInt16(p[7])
        let uid = p[uidAt..<uidAt + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        let inode = p[inodeAt..<inodeAt + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        guard localPort == ends.localPort, remotePort == ends.remotePort, inode != 0,
            ![TCP_LISTEN, TCP_SYN_RECV, TCP_TIME_WAIT, TCP_CLOSE].map({ Int($0) }).contains(state)
        else { return nil }
        return uid
    }

    /// The owner from /proc/thread-self/net/tcp or tcp6 (this thread's namespace): lines
    /// "sl local rem st queues timer retransmits uid timeout inode", addresses as the kernel's
    /// 32-bit words in hex, ports in hex. Same filters as `parse`.
    static func fromProc(_ ends: TCPEnds) -> uid_t? {
        let (local, remote) = (unmapped(ends.local), unmapped(ends.remote))
        let file = local.count == 4 && remote.count == 4 ? "tcp" : "tcp6"
        guard let text = ProcFile.text("/proc/thread-self/net/\(file)") else { return nil }
        return owner(in: text, (hex(local, ends.localPort), hex(remote, ends.remotePort)))
    }

    static func owner(in text: String, _ want: (String, String)) -> uid_t? {
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 9, f[1] == want.0, f[2] == want.1, let state = Int(f[3], radix: 16),
                let uid = uid_t(f[7]), let inode = UInt64(f[9]), inode != 0,
                ![TCP_LISTEN, TCP_SYN_RECV, TCP_TIME_WAIT, TCP_CLOSE].map({ Int($0) }).contains(state)
            else { continue }
            return uid
        }
        return nil
    }

    /// ADDR:PORT as /proc/net/tcp prints them: each 32-bit word of the address in host order.
    static func hex(_ a: [UInt8], _ port: UInt16) -> String {
        var out = ""
        for word in stride(from: 0, to: a.count, by: 4) {
            for b in a[word..<word + 4].reversed() { out += b.padded(2, radix: 16).uppercased() }
        }
        return out + ":" + port.padded(4, radix: 16).uppercased()
    }

    /// An IPv4 address from a v4-mapped IPv6 one (::ffff:a.b.c.d); others as they are.
    public static func unmapped(_ a: [UInt8]) -> [UInt8] {
        a.count == 16 && a[0..<10].allSatisfy { $0 == 0 } && a[10] == 0xFF && a[11] == 0xFF ? Array(a[12...]) : a
    }

    static func padded(_ a: [UInt8]) -> [UInt8] { a + [UInt8](repeating: 0, count: 16 - a.count) }
}
