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

    let netlinkProtocol: Int32
    /// False for a copy of a socket that another process holds too (it must close at once).
    var closeMayWait = true

    /// A new socket; or, with `adopting`, a bound netlink socket this process inherited (the
    /// watchdog takes over the one apply made its table with, so the table's owner lives on).
    init(netlinkProtocol: Int32, adopting fd: Int32? = nil) throws {
        self.netlinkProtocol = netlinkProtocol
        guard let s = nl_socket_alloc() else {
            throw KernelError(operation: "allocating a netlink socket", errno: ENOMEM, source: .libnl)
        }
        let rc = fd.map { nl_socket_set_fd(s, netlinkProtocol, $0) } ?? nl_connect(s, netlinkProtocol)
        // libnl keeps socket()'s and bind()'s errno (its close() on the way out does not touch it).
        let e = errno
        if rc < 0 {
            nl_socket_free(s)
            let what = fd.map { "taking over netlink socket \($0)" } ?? "opening a netlink socket"
            throw KernelError(
                operation: "\(what) (protocol \(netlinkProtocol))",
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

    deinit {
        if netlinkProtocol == NETLINK_NETFILTER && closeMayWait { NetfilterCloses.keep(nl_socket_get_fd(sock)) }
        nl_socket_free(sock)
    }

    var fileDescriptor: Int32 { nl_socket_get_fd(sock) }

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

/// A command that ends soon does not wait for nf_tables to free memory. Closing the last
/// reference to a netfilter socket waits for the objects of recent transactions (anyone's, in
/// any namespace) to be freed after an RCU grace period, which took 10-20 ms here: more than
/// the rest of a revert. When deferred, a closing socket is kept open through a duplicate,
/// and at exit a child process holds the duplicates until this process is gone and closes
/// them. Long-lived processes (the watchdog, `run`) close their sockets as they go.
public enum NetfilterCloses {
    nonisolated(unsafe) private static var kept: [Int32]?
    private static let lock = Condition()

    /// From now until exit, netfilter sockets close after this process has exited.
    public static func deferUntilExit() {
        lock.withLock {
            guard kept == nil else { return }
            kept = []
            atexit { NetfilterCloses.handOff() }
        }
    }

    /// In a child forked without exec (the watchdog): it is long-lived and closes its sockets as
    /// it goes; the duplicates listed were the parent's, and are closed here already.
    public static func forgetInChild() {
        lock.withLock { kept = nil }
    }

    /// Keeps the socket behind `fd` open through a duplicate, when deferring.
    static func keep(_ fd: Int32) {
        lock.withLock {
            guard kept != nil else { return }
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
            if copy >= 0 { kept!.append(copy) }
        }
    }

    /// At exit: the duplicates go to a child that closes them once this process is gone; if
    /// that child cannot be made, they close here, as they would have.
    static func handOff() {
        lock.withLock {
            guard let fds = kept, !fds.isEmpty else { return }
            kept = []
            _ = fds.withUnsafeBufferPointer { nf_close_after_exit($0.baseAddress, Int32($0.count)) }
        }
    }
}
