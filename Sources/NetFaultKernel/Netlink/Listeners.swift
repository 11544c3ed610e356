import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// The TCP ports something listens on in a network namespace: where a server is local, its
/// requests arrive. Asked of sock_diag for listening sockets only, which the kernel answers
/// from its listening hash; /proc/net/tcp walks every bucket of the established hash, which
/// took milliseconds per file on a machine with much memory.
public enum Listeners {
    /// `socket`: a NETLINK_SOCK_DIAG socket of `namespace` that the caller keeps (a daemon
    /// asks often); nil opens one for this call.
    public static func tcpPorts(in namespace: NetworkNamespace?, socket: NetlinkSocket? = nil) throws -> Set<UInt16> {
        do {
            let socket = try socket ?? diagSocket(in: namespace)
            var ports: Set<UInt16> = []
            for family in [AF_INET, AF_INET6] {
                let replies = try socket.dump(request(family: UInt8(family)), "listing listening TCP sockets")
                ports.formUnion(replies.compactMap(port))
            }
            return ports
        } catch is KernelError {
            return try fromProc(in: namespace)  // a kernel built without inet_diag
        }
    }

    public static func diagSocket(in namespace: NetworkNamespace?) throws -> NetlinkSocket {
        try NetlinkSocket.open(in: namespace, netlinkProtocol: NETLINK_SOCK_DIAG)
    }

    /// The same from /proc/net/tcp and tcp6, as a thread inside the namespace sees them.
    static func fromProc(in namespace: NetworkNamespace?) throws -> Set<UInt16> {
        try inNamespace(namespace) {
            var ports: Set<UInt16> = []
            for file in ["tcp", "tcp6"] {
                // thread-self: the namespace of this thread, which `inside` moved.
                guard let text = ProcFile.text("/proc/thread-self/net/\(file)") else {
                    continue
                }
                ports.formUnion(parse(text))
            }
            return ports
        }
    }

    /// Lines "sl local_address rem_address st ...", addresses as HEXADDR:HEXPORT; st 0A is LISTEN.
    static func parse(_ table: String) -> Set<UInt16> {
        var ports: Set<UInt16> = []
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 3, f[3] == "0A",
                let port = f[1].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) })
            else { continue }
            ports.insert(port)
        }
        return ports
    }

    /// SOCK_DIAG_BY_FAMILY: TCP sockets of `family` in LISTEN.
    static func request(family: UInt8) -> NetlinkRequest {
        TCPSockets.request(family: family, states: 1 << UInt32(TCP_LISTEN))
    }

    /// The local port of a struct inet_diag_msg: after family, state, timer and retrans, the
    /// sockid's first field, big-endian.
    static func port(_ msg: NetlinkMessage) -> UInt16? {
        guard msg.type == UInt16(SOCK_DIAG_BY_FAMILY), msg.payload.count >= MemoryLayout<inet_diag_msg>.size,
            msg.payload[1] == UInt8(TCP_LISTEN)
        else { return nil }
        return UInt16(msg.payload[4]) << 8 | UInt16(msg.payload[5])
    }
}
