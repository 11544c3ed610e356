import CNetlink
import FoundationEssentials
import Glibc

/// Where netlink datagrams go and come from: the kernel through a libnl-3 socket, or scripted
/// replies in tests (as containerization's MockNetlinkSocket and google/nftables' recorder).
/// The exchange logic above it (NetlinkSocket) is the same for both.
public protocol NetlinkTransport: AnyObject {
    /// This end's port id, which the kernel puts in every reply's header.
    var portID: UInt32 { get }
    func send(_ bytes: [UInt8]) throws
    /// One datagram and the port id of its sender (0: the kernel).
    func receive() throws -> (sender: UInt32, bytes: [UInt8])
}

/// A netlink socket opened by libnl-3, used only to send and receive raw datagrams: netfault
/// encodes every message and owns the sequence numbers.
final class LibnlTransport: NetlinkTransport {
    let sock: OpaquePointer
    let portID: UInt32

    init(netlinkProtocol: Int32) throws {
        guard let s = nl_socket_alloc() else {
            throw KernelError(operation: "allocating a netlink socket", errno: ENOMEM, source: .libnl)
        }
        let rc = nl_connect(s, netlinkProtocol)
        // libnl keeps socket()'s and bind()'s errno (its close() on the way out does not touch it).
        let e = errno
        if rc < 0 {
            nl_socket_free(s)
            throw KernelError(
                operation: "opening a netlink socket (protocol \(netlinkProtocol))",
                errno: e != 0 ? e : EPROTONOSUPPORT, source: .libnl, detail: String(cString: nl_geterror(rc)))
        }
        // The watchdog is spawned while this socket is open; it must not inherit it.
        guard fcntl(nl_socket_get_fd(s), F_SETFD, FD_CLOEXEC) == 0 else {
            let e = errno
            nl_socket_free(s)
            throw KernelError(operation: "marking the netlink socket close-on-exec", errno: e, source: .netfault)
        }
        // Extended acks and buffer sizes improve messages and large dumps; the kernel may refuse
        // them (an old kernel, a small rmem_max) without harm to correctness.
        _ = nf_enable_ext_ack(s)
        _ = nl_socket_set_buffer_size(s, 1 << 20, 1 << 20)
        nl_socket_set_msg_buf_size(s, 64 * 1024)
        sock = s
        portID = nl_socket_get_local_port(s)
    }

    deinit { nl_socket_free(sock) }

    func send(_ bytes: [UInt8]) throws {
        var b = bytes
        let rc = b.withUnsafeMutableBytes { nl_sendto(sock, $0.baseAddress, $0.count) }
        if rc < 0 {
            throw KernelError(
                operation: "sending to the kernel", errno: EIO, source: .libnl, detail: String(cString: nl_geterror(rc))
            )
        }
    }

    func receive() throws -> (sender: UInt32, bytes: [UInt8]) {
        var buf: UnsafeMutablePointer<UInt8>?
        var sender: UInt32 = 0
        let n = nf_recv(sock, &buf, &sender)
        defer { if let buf { nf_free(buf) } }
        guard n > 0, let buf else {
            throw KernelError(
                operation: "receiving from the kernel", errno: n == 0 ? ECONNRESET : EIO, source: .libnl,
                detail: n < 0 ? String(cString: nl_geterror(n)) : nil)
        }
        return (sender, Array(UnsafeBufferPointer(start: buf, count: Int(n))))
    }
}
