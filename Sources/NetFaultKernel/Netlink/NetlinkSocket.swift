import CNetlink
import Foundation

/// A failed kernel request: what was being done, the errno, and the kernel's extended ack text.
public struct KernelError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let errno: Int32
    public let extendedAck: String?

    public init(operation: String, errno: Int32, extendedAck: String? = nil) {
        self.operation = operation; self.errno = errno; self.extendedAck = extendedAck
    }

    public var description: String {
        var s = "\(operation): \(String(cString: strerror(errno)))"
        if let extendedAck, !extendedAck.isEmpty { s += " (kernel: \(extendedAck))" }
        return s
    }
}

/// A netlink socket: rtnetlink, or netfilter for nf_tables. libnl-3 owns the socket
/// (allocation, binding, port id); requests are encoded in Swift (or by libnftnl) and sent raw.
public final class NetlinkSocket {
    let sock: OpaquePointer
    private var seq: UInt32

    /// `netlinkProtocol`: NETLINK_ROUTE (0) for traffic control and links, NETLINK_NETFILTER (12) for nf_tables.
    public init(netlinkProtocol: Int32 = NETLINK_ROUTE) throws {
        guard let s = nl_socket_alloc() else {
            throw KernelError(operation: "allocating a netlink socket", errno: ENOMEM)
        }
        let rc = nl_connect(s, netlinkProtocol)
        if rc < 0 {
            nl_socket_free(s)
            throw KernelError(operation: "opening a netlink socket (protocol \(netlinkProtocol))", errno: EPROTONOSUPPORT,
                              extendedAck: String(cString: nl_geterror(rc)))
        }
        // The watchdog is spawned while this socket is open; it must not inherit it.
        _ = fcntl(nl_socket_get_fd(s), F_SETFD, FD_CLOEXEC)
        _ = nf_enable_ext_ack(s)
        _ = nl_socket_set_buffer_size(s, 1 << 20, 1 << 20)
        nl_socket_set_msg_buf_size(s, 64 * 1024)
        sock = s
        seq = UInt32(truncatingIfNeeded: time(nil))
    }

    deinit { nl_socket_free(sock) }

    /// Sends a request that expects an acknowledgement; throws the kernel's error.
    public func perform(_ request: NetlinkRequest, _ operation: @autoclosure () -> String) throws {
        _ = try transact(request, operation())
    }

    /// Sends a request and collects every reply message up to its ack, DONE, or single answer.
    @discardableResult
    public func transact(_ request: NetlinkRequest, _ operation: @autoclosure () -> String) throws -> [NetlinkMessage] {
        try exchange({ request.bytes(seq: $0) }, operation())
    }

    /// Sends several requests in one datagram (an nf_tables batch) and waits for the ack of
    /// each one that asks for it; throws the first error.
    public func batch(_ requests: [NetlinkRequest], _ operation: @autoclosure () -> String) throws {
        try batch({ first in
            requests.enumerated().flatMap { i, r in r.bytes(seq: first &+ UInt32(i)) }
        }, operation())
    }

    /// Sends an already encoded batch in one datagram and waits for the ack of each message
    /// that asks for one (NLM_F_ACK); throws the first error. `encode` gets the first seq to
    /// use and numbers its messages upwards from it; the socket skips past the seqs it used.
    public func batch(_ encode: (_ firstSeq: UInt32) -> [UInt8], _ operation: @autoclosure () -> String) throws {
        _ = try exchange(encode, operation(), awaitingAcksOnly: true)
    }

    /// The one send-and-receive loop. Sends the messages `encode` numbers from the next seq,
    /// then reads until each awaited message is answered: by an ack or error, by DONE (a
    /// dump), or by a single reply when it asked no ack. With `awaitingAcksOnly` (a batch)
    /// only the messages asking an ack are awaited. Answers to other seqs (an earlier request
    /// given up on after its error) are skipped. Throws the first error.
    private func exchange(_ encode: (_ firstSeq: UInt32) -> [UInt8], _ operation: @autoclosure () -> String,
                          awaitingAcksOnly: Bool = false) throws -> [NetlinkMessage] {
        let first = seq &+ 1
        var bytes = encode(first)
        let sent = NetlinkMessage.parse(bytes)
        let used = sent.map { $0.seq &- first }.max().map { $0 &+ 1 } ?? 0
        seq = first &+ used &- 1
        let asksAck = Set(sent.filter { $0.flags & NL.ack != 0 }.map(\.seq))
        var waiting = awaitingAcksOnly ? asksAck : Set(sent.map(\.seq))
        let rc = bytes.withUnsafeMutableBytes { nl_sendto(sock, $0.baseAddress, $0.count) }
        if rc < 0 { throw KernelError(operation: operation(), errno: EIO, extendedAck: String(cString: nl_geterror(rc))) }
        var replies: [NetlinkMessage] = []
        while !waiting.isEmpty {
            for msg in try receive(operation()) where msg.seq &- first < used {
                switch msg.type {
                case NL.error:
                    waiting.remove(msg.seq)
                    let err = Int32(bitPattern: msg.payload.le32(at: 0))
                    if err != 0 { throw KernelError(operation: operation(), errno: -err, extendedAck: Self.extendedAck(msg)) }
                case NL.done:
                    waiting.remove(msg.seq)
                default:
                    replies.append(msg)
                    if msg.flags & NL.multi == 0 && !asksAck.contains(msg.seq) { waiting.remove(msg.seq) }
                }
            }
        }
        return replies
    }

    /// The messages of one received datagram.
    private func receive(_ operation: @autoclosure () -> String) throws -> [NetlinkMessage] {
        var buf: UnsafeMutablePointer<UInt8>?
        let n = nf_recv(sock, &buf)
        if n <= 0 {
            if let buf { nf_free(buf) }
            throw KernelError(operation: operation(), errno: n == 0 ? ECONNRESET : EIO,
                              extendedAck: n < 0 ? String(cString: nl_geterror(n)) : nil)
        }
        let data = Array(UnsafeBufferPointer(start: buf, count: Int(n)))
        nf_free(buf)
        return NetlinkMessage.parse(data)
    }

    /// The NLMSGERR_ATTR_MSG text after an error's echoed request.
    static func extendedAck(_ msg: NetlinkMessage) -> String? {
        guard msg.flags & 0x200 != 0, msg.payload.count >= 20 else { return nil }  // NLM_F_ACK_TLVS
        let capped = msg.flags & 0x100 != 0  // NLM_F_CAPPED: only the header was echoed
        let echoed = capped ? NL.headerSize : Int(msg.payload.le32(at: 4))
        let start = 4 + ((echoed + 3) & ~3)
        guard start <= msg.payload.count else { return nil }
        return Attributes(msg.payload[start...]).string(1)
    }
}
