import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// A failed kernel request: what was being done, the errno, who said so, and the kernel's
/// extended ack text.
public struct KernelError: NetfaultError, Sendable {
    /// Where an error comes from: the kernel's answer, libnl-3 (opening, sending, receiving),
    /// or netfault's own checks of what came back.
    public enum Source: String, Sendable { case kernel, libnl, netfault }

    public let operation: String
    public let errno: Int32
    /// The kernel's extended ack text (NLMSGERR_ATTR_MSG) for a kernel error.
    public let extendedAck: String?
    public let source: Source
    /// libnl's own message, or what netfault found wrong.
    public let detail: String?
    /// The failing message of a batch, by its place and sequence number.
    public let failedMessage: String?

    public init(
        operation: String, errno: Int32, extendedAck: String? = nil, source: Source = .kernel,
        detail: String? = nil, failedMessage: String? = nil
    ) {
        self.operation = operation; self.errno = errno; self.extendedAck = extendedAck
        self.source = source; self.detail = detail; self.failedMessage = failedMessage
    }

    /// A refusal for want of privilege is 77 (and says what netfault needs), any other 71.
    public var exitStatus: Int32 {
        source == .kernel && (errno == EPERM || errno == EACCES) ? ExitStatus.noPermission : ExitStatus.osError
    }

    public var description: String {
        var s = "\(operation): \(String(cString: strerror(errno)))"
        if let failedMessage { s += " at \(failedMessage)" }
        if let extendedAck, !extendedAck.isEmpty { s += " (kernel: \(extendedAck))" }
        if let detail, !detail.isEmpty { s += " (\(source == .libnl ? "libnl" : "netfault"): \(detail))" }
        return s
    }
}

/// The kernel said a dump changed while it was written (NLM_F_DUMP_INTR): the replies are not a
/// consistent picture. The caller asks again.
public struct DumpInterrupted: NetfaultError, Sendable {
    public let operation: String
    public var exitStatus: Int32 { ExitStatus.osError }
    public var description: String { "\(operation): the kernel's listing changed while it was being read; try again" }
}

/// A netlink conversation: rtnetlink, or netfilter for nf_tables. netfault encodes every
/// request and numbers it; the transport (a libnl-3 socket, or scripted replies in tests)
/// moves the datagrams. Every reply is checked: it must come from the kernel, to this port,
/// answering a sequence number this request used.
public final class NetlinkSocket {
    let transport: NetlinkTransport
    private var seq: UInt32

    /// `netlinkProtocol`: NETLINK_ROUTE (0) for traffic control and links, NETLINK_NETFILTER (12) for nf_tables.
    public convenience init(netlinkProtocol: Int32 = NETLINK_ROUTE) throws {
        self.init(
            transport: try LibnlTransport(netlinkProtocol: netlinkProtocol),
            firstSeq: UInt32(truncatingIfNeeded: time(nil)))
    }

    /// Takes over `fd`, a netlink socket of `netlinkProtocol` this process inherited.
    public convenience init(adopting fd: Int32, netlinkProtocol: Int32) throws {
        self.init(
            transport: try LibnlTransport(netlinkProtocol: netlinkProtocol, adopting: fd),
            firstSeq: UInt32(truncatingIfNeeded: time(nil)) &+ 0x8000_0000)
    }

    /// The kernel socket's descriptor; nil for a scripted transport.
    public var fileDescriptor: Int32? { (transport as? LibnlTransport)?.fileDescriptor }

    public init(transport: NetlinkTransport, firstSeq: UInt32) {
        self.transport = transport
        seq = firstSeq
    }

    /// Sends a request that expects an acknowledgement; throws the kernel's error.
    public func perform(_ request: NetlinkRequest, _ operation: @autoclosure () -> String) throws {
        _ = try transact(request, operation())
    }

    /// Sends a request and collects every reply message up to its ack, DONE, or single answer.
    @discardableResult
    public func transact(_ request: NetlinkRequest, _ operation: @autoclosure () -> String) throws -> [NetlinkMessage] {
        try exchange({ request.bytes(seq: $0) }, operation())
    }

    /// A dump (NLM_F_DUMP), asked again up to `attempts` times while the kernel reports that it
    /// changed during the listing; the last interruption is thrown.
    public func dump(
        _ request: NetlinkRequest, _ operation: @autoclosure () -> String, attempts: Int = 3
    ) throws -> [NetlinkMessage] {
        var attempt = 1
        while true {
            do { return try transact(request, operation()) } catch let e as DumpInterrupted {
                guard attempt < attempts else { throw e }
                attempt += 1
            }
        }
    }

    /// Sends several requests in one datagram (an nf_tables batch) and waits for the ack of
    /// each one that asks for it; throws the first error.
    public func batch(_ requests: [NetlinkRequest], _ operation: @autoclosure () -> String) throws {
        try batch(
            { first in
                requests.enumerated().flatMap { i, r in r.bytes(seq: first &+ UInt32(i)) }
            }, operation())
    }

    /// Sends an already encoded batch in one datagram and waits for the ack of each message
    /// that asks for one (NLM_F_ACK); throws the first error. `encode` gets the first seq to
    /// use and numbers its messages upwards from it; the socket skips past the seqs it used.
    public func batch(_ encode: (_ firstSeq: UInt32) throws -> [UInt8], _ operation: @autoclosure () -> String) throws {
        _ = try exchange(encode, operation(), awaitingAcksOnly: true)
    }

    /// The one send-and-receive loop. Sends the messages `encode` numbers from the next seq,
    /// then reads until each awaited message is answered: by an ack or error, by DONE (a
    /// dump), or by a single reply when it asked no ack. With `awaitingAcksOnly` (a batch)
    /// only the messages asking an ack are awaited. Answers to earlier seqs (a request given
    /// up on after its error) are skipped; a datagram not from the kernel, a message to another
    /// port or a seq never sent is an error. Throws the first error.
    private func exchange(
        _ encode: (_ firstSeq: UInt32) throws -> [UInt8], _ operation: @autoclosure () -> String,
        awaitingAcksOnly: Bool = false
    ) throws -> [NetlinkMessage] {
        let first = seq &+ 1
        let bytes = try encode(first)
        let sent = NetlinkMessage.parse(bytes)
        let used = sent.map { $0.seq &- first }.max().map { $0 &+ 1 } ?? 0
        let issued = seq  // every seq up to here belongs to an earlier request
        seq = first &+ used &- 1
        let asksAck = Set(sent.filter { $0.flags & UInt16(NLM_F_ACK) != 0 }.map(\.seq))
        var waiting = awaitingAcksOnly ? asksAck : Set(sent.map(\.seq))
        try transport.send(bytes)
        var replies: [NetlinkMessage] = []
        while !waiting.isEmpty {
            let (sender, datagram) = try transport.receive()
            guard sender == 0 else {
                throw KernelError(
                    operation: operation(), errno: EPROTO, source: .netfault,
                    detail: "a datagram came from port \(sender), not from the kernel")
            }
            for msg in NetlinkMessage.parse(datagram) {
                guard msg.seq &- first < used else {
                    // An answer to an earlier request that gave up after its first error.
                    if issued &- msg.seq < 0x1_0000 { continue }
                    throw KernelError(
                        operation: operation(), errno: EPROTO, source: .netfault,
                        detail: "a reply answers seq \(msg.seq), which this request did not use")
                }
                guard msg.port == transport.portID else {
                    throw KernelError(
                        operation: operation(), errno: EPROTO, source: .netfault,
                        detail: "a reply is addressed to port \(msg.port), not to this socket's \(transport.portID)")
                }
                if msg.flags & UInt16(NLM_F_DUMP_INTR) != 0 { throw DumpInterrupted(operation: operation()) }
                switch msg.type {
                case UInt16(NLMSG_ERROR):
                    waiting.remove(msg.seq)
                    try Self.throwIfError(msg, sent: sent, first: first, operation())
                case UInt16(NLMSG_DONE):
                    waiting.remove(msg.seq)
                    // A dump that failed part-way says so in DONE's payload.
                    let err = msg.payload.count >= 4 ? Int32(bitPattern: msg.payload.le32(at: 0)) : 0
                    if err < 0 {
                        throw KernelError(operation: operation(), errno: -err, extendedAck: Self.extendedAck(msg))
                    }
                default:
                    replies.append(msg)
                    if msg.flags & UInt16(NLM_F_MULTI) == 0 && !asksAck.contains(msg.seq) { waiting.remove(msg.seq) }
                }
            }
        }
        return replies
    }

    /// An NLMSG_ERROR answer: nothing when it is an ack (error 0), else the error, naming the
    /// failed message of a batch by its place, seq and type.
    private static func throwIfError(
        _ msg: NetlinkMessage, sent: [NetlinkMessage], first: UInt32, _ operation: String
    ) throws {
        let err = Int32(bitPattern: msg.payload.count >= 4 ? msg.payload.le32(at: 0) : UInt32(bitPattern: -EPROTO))
        guard err != 0 else { return }
        let which =
            sent.count > 1
            ? """
            message \(msg.seq &- first + 1) of \(sent.count) (seq \(msg.seq), type \
            \(typeName(sent, msg.seq)))
            """
            : nil
        throw KernelError(operation: operation, errno: -err, extendedAck: extendedAck(msg), failedMessage: which)
    }

    /// The type of the sent message with `seq`, for an error that names it.
    static func typeName(_ sent: [NetlinkMessage], _ seq: UInt32) -> String {
        guard let m = sent.first(where: { $0.seq == seq }) else { return "?" }
        return "0x" + String(m.type, radix: 16)
    }

    /// The NLMSGERR_ATTR_MSG text after an error's echoed request.
    static func extendedAck(_ msg: NetlinkMessage) -> String? {
        guard msg.flags & UInt16(NLM_F_ACK_TLVS) != 0, msg.payload.count >= 20 else { return nil }
        let capped = msg.flags & UInt16(NLM_F_CAPPED) != 0  // only the request's header was echoed
        let echoed = capped ? nlmsgHeaderSize : Int(msg.payload.le32(at: 4))
        let start = 4 + ((echoed + 3) & ~3)
        guard start <= msg.payload.count else { return nil }
        return Attributes(msg.payload[start...]).string(NLMSGERR_ATTR_MSG.rawValue)
    }
}
