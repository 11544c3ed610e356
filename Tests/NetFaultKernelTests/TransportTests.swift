import CNetlink
import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// Scripted replies instead of a kernel: each send is answered by `reply`, which sees what was
/// sent (so it can answer the right sequence numbers, or the wrong ones on purpose).
final class ScriptedTransport: NetlinkTransport {
    let portID: UInt32 = 4242
    var sent: [[NetlinkMessage]] = []
    var queue: [(sender: UInt32, bytes: [UInt8])] = []
    let reply: (_ sent: [NetlinkMessage], _ attempt: Int) -> [(sender: UInt32, bytes: [UInt8])]

    init(_ reply: @escaping (_ sent: [NetlinkMessage], _ attempt: Int) -> [(sender: UInt32, bytes: [UInt8])]) {
        self.reply = reply
    }

    func send(_ bytes: [UInt8]) throws {
        let msgs = NetlinkMessage.parse(bytes)
        sent.append(msgs)
        queue += reply(msgs, sent.count)
    }

    func receive() throws -> (sender: UInt32, bytes: [UInt8]) {
        guard !queue.isEmpty else {
            throw KernelError(operation: "scripted receive", errno: EAGAIN, source: .netfault, detail: "no reply left")
        }
        return queue.removeFirst()
    }
}

/// Kernel-shaped replies.
enum Reply {
    /// NLMSG_ERROR with `errno` (0: an ack), the request's header echoed (capped) and, when
    /// given, the extended ack text.
    static func error(seq: UInt32, port: UInt32 = 4242, errno: Int32 = 0, text: String? = nil) -> [UInt8] {
        var w = ByteWriter()
        w.i32(-errno)
        w.raw(NetlinkRequest(type: UInt16(RTM_NEWQDISC), flags: 0, payload: []).bytes(seq: seq, pid: port))
        if let text { w.attr(1) { $0.cString(text) } }  // NLMSGERR_ATTR_MSG
        let flags: UInt16 = 0x100 | (text != nil ? 0x200 : 0)  // NLM_F_CAPPED, NLM_F_ACK_TLVS
        return NetlinkMessage(type: UInt16(NLMSG_ERROR), flags: flags, seq: seq, port: port, payload: w.bytes).bytes
    }

    static func done(seq: UInt32, port: UInt32 = 4242, errno: Int32 = 0, flags: UInt16 = UInt16(NLM_F_MULTI)) -> [UInt8]
    {
        var w = ByteWriter()
        w.i32(-errno)
        return NetlinkMessage(type: UInt16(NLMSG_DONE), flags: flags, seq: seq, port: port, payload: w.bytes).bytes
    }

    static func link(
        seq: UInt32, index: Int32, name: String, flags: UInt16 = UInt16(NLM_F_MULTI), port: UInt32 = 4242
    ) -> [UInt8] {
        var w = ByteWriter()
        IfInfoMsg(index: index).encode(into: &w)
        w.attr(3) { $0.cString(name) }  // IFLA_IFNAME
        return NetlinkMessage(type: UInt16(RTM_NEWLINK), flags: flags, seq: seq, port: port, payload: w.bytes).bytes
    }
}

@Suite struct TransportTests {
    let request = TCRequests.deleteRoot(ifindex: 1)

    func socket(
        _ reply: @escaping ([NetlinkMessage], Int) -> [(sender: UInt32, bytes: [UInt8])]
    ) -> (NetlinkSocket, ScriptedTransport) {
        let t = ScriptedTransport(reply)
        return (NetlinkSocket(transport: t, firstSeq: 100), t)
    }

    @Test("an ack for the request's seq, from the kernel to this port, completes it; seqs count up")
    func ack() throws {
        let (nl, t) = socket { sent, _ in [(UInt32(0), Reply.error(seq: sent[0].seq))] }
        try nl.perform(request, "removing")
        try nl.perform(request, "removing")
        #expect(t.sent.map { $0[0].seq } == [101, 102])
    }

    @Test("an ack with extended-ack text becomes the error's kernel message")
    func extendedAck() {
        let (nl, _) = socket { sent, _ in
            [(UInt32(0), Reply.error(seq: sent[0].seq, errno: ENOENT, text: "Specified qdisc kind is unknown"))]
        }
        #expect {
            try nl.perform(request, "adding a netem qdisc")
        } throws: { e in
            let k = e as? KernelError
            return k?.errno == ENOENT && k?.extendedAck == "Specified qdisc kind is unknown" && k?.source == .kernel
        }
    }

    @Test("a reply with a seq this request never used is an error, not an answer")
    func wrongSeq() {
        let (nl, _) = socket { sent, _ in [(UInt32(0), Reply.error(seq: sent[0].seq &+ 7))] }
        #expect { try nl.perform(request, "removing") } throws: { e in
            (e as? KernelError).map {
                $0.errno == EPROTO && $0.source == .netfault && ($0.detail ?? "").contains("seq")
            } ?? false
        }
    }

    @Test("a datagram from another port than the kernel's is refused")
    func wrongSender() {
        let (nl, _) = socket { sent, _ in [(UInt32(31337), Reply.error(seq: sent[0].seq))] }
        #expect { try nl.perform(request, "removing") } throws: { e in
            (e as? KernelError).map { $0.errno == EPROTO && ($0.detail ?? "").contains("31337") } ?? false
        }
    }

    @Test("a reply addressed to another socket's port is refused")
    func wrongPort() {
        let (nl, _) = socket { sent, _ in [(UInt32(0), Reply.error(seq: sent[0].seq, port: 99))] }
        #expect { try nl.perform(request, "removing") } throws: { e in
            (e as? KernelError).map { $0.errno == EPROTO && ($0.detail ?? "").contains("port 99") } ?? false
        }
    }

    @Test("an answer to an earlier request that gave up after its error is skipped")
    func staleReplySkipped() throws {
        let (nl, _) = socket { sent, _ in
            [(UInt32(0), Reply.error(seq: sent[0].seq &- 1)), (UInt32(0), Reply.error(seq: sent[0].seq))]
        }
        try nl.perform(request, "removing")
    }

    @Test("an errno inside DONE fails the dump")
    func errorInDone() {
        let (nl, _) = socket { sent, _ in
            [
                (UInt32(0), Reply.link(seq: sent[0].seq, index: 1, name: "lo")),
                (UInt32(0), Reply.done(seq: sent[0].seq, errno: ENOBUFS))
            ]
        }
        #expect { try nl.links() } throws: { e in (e as? KernelError)?.errno == ENOBUFS }
    }

    @Test("an interrupted dump is asked again, and its second answer is used")
    func dumpRetried() throws {
        let (nl, t) = socket { sent, attempt in
            let seq = sent[0].seq
            let intr: UInt16 = attempt == 1 ? UInt16(NLM_F_MULTI | NLM_F_DUMP_INTR) : UInt16(NLM_F_MULTI)
            return [
                (UInt32(0), Reply.link(seq: seq, index: 1, name: attempt == 1 ? "stale" : "lo", flags: intr)),
                (UInt32(0), Reply.done(seq: seq))
            ]
        }
        #expect(try nl.links().map(\.name) == ["lo"])
        #expect(t.sent.count == 2)
    }

    @Test("a dump interrupted every time fails with DumpInterrupted after three tries, never a partial answer")
    func dumpInterruptedFails() {
        let (nl, t) = socket { sent, _ in
            [
                (
                    UInt32(0),
                    Reply.link(seq: sent[0].seq, index: 1, name: "lo", flags: UInt16(NLM_F_MULTI | NLM_F_DUMP_INTR))
                ), (UInt32(0), Reply.done(seq: sent[0].seq))
            ]
        }
        #expect(throws: DumpInterrupted.self) { try nl.links() }
        #expect(t.sent.count == 3)
    }

    @Test("a batch error names the failing message by its place and seq")
    func batchNamesFailingMessage() {
        let requests = [
            TCRequests.deleteRoot(ifindex: 1), TCRequests.deleteRoot(ifindex: 2), TCRequests.deleteRoot(ifindex: 3)
        ]
        let (nl, _) = socket { sent, _ in
            [
                (UInt32(0), Reply.error(seq: sent[0].seq)),
                (UInt32(0), Reply.error(seq: sent[1].seq, errno: EINVAL, text: "bad")),
                (UInt32(0), Reply.error(seq: sent[2].seq))
            ]
        }
        #expect { try nl.batch(requests, "a batch") } throws: { e in
            guard let k = e as? KernelError else { return false }
            return k.errno == EINVAL && (k.failedMessage ?? "").hasPrefix("message 2 of 3 (seq 102")
                && "\(k)".contains("message 2 of 3")
        }
    }

    @Test("links come from an RTM_GETLINK dump netfault encodes itself (one owner of seqs)")
    func linksDump() throws {
        let (nl, t) = socket { sent, _ in
            let seq = sent[0].seq
            var lo = ByteWriter()
            IfInfoMsg(index: 1, flags: UInt32(IFF_LOOPBACK)).encode(into: &lo)
            lo.attr(3) { $0.cString("lo") }
            let loMsg = NetlinkMessage(
                type: UInt16(RTM_NEWLINK), flags: UInt16(NLM_F_MULTI), seq: seq, port: 4242, payload: lo.bytes
            ).bytes
            return [
                (UInt32(0), loMsg + Reply.link(seq: seq, index: 7, name: "eth0")), (UInt32(0), Reply.done(seq: seq))
            ]
        }
        let links = try nl.links()
        #expect(
            links.map(\.name) == ["lo", "eth0"] && links.map(\.index) == [1, 7]
                && links.map(\.isLoopback) == [true, false])
        #expect(t.sent[0][0].type == UInt16(RTM_GETLINK) && t.sent[0][0].flags == UInt16(NLM_F_REQUEST | NLM_F_DUMP))
    }
}

@Suite struct WireStructTests {
    @Test func tcmsgRoundTrip() {
        var w = ByteWriter()
        let m = TCMsg(ifindex: 3, handle: 0x6e66_0000, parent: 0xffff_ffff, info: 0x6e04_0008)
        m.encode(into: &w)
        #expect(w.bytes.count == TCMsg.size && TCMsg(decoding: w.bytes) == m)
        #expect(TCMsg(decoding: Array(w.bytes.prefix(19))) == nil)
    }

    @Test func ifinfomsgAndRtmsgRoundTrip() {
        var w = ByteWriter()
        let i = IfInfoMsg(index: 9, flags: 1, change: 1)
        i.encode(into: &w)
        #expect(w.bytes.count == IfInfoMsg.size && IfInfoMsg(decoding: w.bytes) == i)
        var r = ByteWriter()
        let rt = RtMsg(family: 10, dstLength: 128)
        rt.encode(into: &r)
        #expect(r.bytes.count == RtMsg.size && RtMsg(decoding: r.bytes) == rt)
    }
}

@Suite struct KernelErrorPathTests {
    @Test("a protocol the kernel does not have keeps its real errno, from libnl")
    func connectErrno() {
        #expect { _ = try NetlinkSocket(netlinkProtocol: 31) } throws: { e in
            (e as? KernelError).map { $0.source == .libnl && $0.errno == EPROTONOSUPPORT } ?? false
        }
    }

    @Test("a batch whose message overflows the buffer is an error, never a silently shorter batch")
    func batchOverflow() {
        let huge: NFTablesRequests.Message = { buf, seq in
            let nlh = UnsafeMutableRawPointer(buf).assumingMemoryBound(to: UInt32.self)
            nlh.pointee = UInt32(NFTablesRequests.messageRoom * 4)  // nlmsg_len larger than the room left
        }
        #expect { _ = try NFTablesRequests.batch([huge], seq: 1) } throws: { e in (e as? KernelError)?.errno == EMSGSIZE
        }
    }
}
