import CNetlink
import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

@Suite struct KernelUnitsTests {
    @Test func probability() {
        #expect(KernelUnits.probability(Percent(5)) == 0x0CCC_CCCD)
        #expect(KernelUnits.probability(Percent(30)) == 0x4CCC_CCCC)
        #expect(KernelUnits.probability(Percent(0)) == 0)
        #expect(KernelUnits.probability(Percent(100)) == UInt32.max)
    }

    @Test func ticks() {
        #expect(KernelUnits.ticks(.milliseconds(100)) == 1_562_500)
        #expect(KernelUnits.ticks(.milliseconds(10)) == 156_250)
        #expect(KernelUnits.ticks(.seconds(300)) == UInt32.max)  // saturates
        #expect(KernelUnits.duration(ticks: 1_562_500) == .milliseconds(100))
    }

    @Test func rateIsBytes() {
        #expect(KernelUnits.rateBytes(Rate(bitsPerSecond: 1_000_000)) == 125_000)
    }
}

@Suite struct NetemDecoderTests {
    /// The TCA_OPTIONS of an RTM_NEWQDISC request: what the kernel echoes in a dump.
    func options(_ r: NetlinkRequest) throws -> [UInt8] {
        try #require(Attributes(r.payload[20...])[TCA_OPTIONS])
    }

    @Test(arguments: [
        NetemSpec(delay: .milliseconds(100)),
        NetemSpec(loss: Percent(30)),
        NetemSpec(
            delay: .milliseconds(100), jitter: .milliseconds(10), delayCorrelation: Percent(25),
            loss: Percent(5), lossCorrelation: Percent(25), duplicate: Percent(1), corrupt: Percent(0.1),
            reorder: Percent(25), gap: 5, rate: Rate(bitsPerSecond: 1_000_000)),
        NetemSpec(delay: .milliseconds(10), reorder: Percent(50)),  // gap 1 on the wire reads back as none
        NetemSpec(rate: Rate(bitsPerSecond: 40_000_000_000))  // through NETEM_RATE64
    ])
    func roundTrip(_ spec: NetemSpec) throws {
        let decoded = NetemDecoder.decode(try options(TCRequests.addNetem(ifindex: 1, band: 2, spec: spec)))
        var expected = spec
        expected.limit = spec.effectiveLimit  // the kernel always holds one
        #expect(decoded == expected)
    }

    @Test("the queue limit goes into tc_netem_qopt.limit: the default sized from the delay, or --limit")
    func limitIsEncoded() throws {
        let cases: [(NetemSpec, UInt32)] = [
            (NetemSpec(loss: Percent(5)), 1000), (NetemSpec(delay: .milliseconds(100)), 10_000),
            (NetemSpec(delay: .milliseconds(100), limit: 50), 50)
        ]
        for (spec, limit) in cases {
            let o = try options(TCRequests.addNetem(ifindex: 1, band: 2, spec: spec))
            #expect(Array(o[4..<8]) == withUnsafeBytes(of: limit.littleEndian, Array.init))
            #expect(NetemDecoder.decode(o)?.limit == limit)
        }
    }

    @Test func distributionIsNotReadBack() throws {
        let spec = NetemSpec(delay: .milliseconds(10), jitter: .milliseconds(2), distribution: .normal)
        let r = TCRequests.addNetem(ifindex: 1, band: 4, spec: spec, distributionTable: [1, -2, 3])
        var expected = spec
        expected.distribution = nil
        expected.limit = 1200  // 12ms held: room for 1200 packets
        #expect(NetemDecoder.decode(try options(r)) == expected)
    }

    @Test func tooShort() {
        #expect(NetemDecoder.decode([UInt8](repeating: 0, count: 23)) == nil)
    }
}

@Suite struct NetlinkParsingTests {
    @Test func parseSplitsPaddedMessages() {
        var w = ByteWriter()
        // Message 1: 16-byte header + 5-byte payload, padded to 24.
        w.u32(21); w.u16(UInt16(RTM_NEWQDISC)); w.u16(UInt16(NLM_F_MULTI)); w.u32(7); w.u32(99)
        w.raw([1, 2, 3, 4, 5]); w.pad()
        // Message 2: NLMSG_DONE with a 4-byte payload.
        w.u32(20); w.u16(UInt16(NLMSG_DONE)); w.u16(UInt16(NLM_F_MULTI)); w.u32(8); w.u32(99); w.i32(0)
        // A truncated third header claiming more than is there.
        w.u32(64); w.u16(UInt16(NLMSG_ERROR)); w.u16(0); w.u32(9); w.u32(0)
        let msgs = NetlinkMessage.parse(w.bytes)
        #expect(msgs.count == 2)
        #expect(msgs.map(\.type) == [UInt16(RTM_NEWQDISC), UInt16(NLMSG_DONE)])
        #expect(msgs.map(\.seq) == [7, 8])
        #expect(msgs.map(\.flags) == [UInt16(NLM_F_MULTI), UInt16(NLM_F_MULTI)])
        #expect(msgs.first?.payload == [1, 2, 3, 4, 5])
        #expect(msgs.last?.payload == [0, 0, 0, 0])
    }

    @Test func parseStopsAtBadLength() {
        var w = ByteWriter()
        w.u32(8); w.u16(UInt16(NLMSG_DONE)); w.u16(0); w.u32(1); w.u32(0)  // shorter than a header
        #expect(NetlinkMessage.parse(w.bytes).isEmpty)
    }

    @Test func attributes() {
        var w = ByteWriter()
        w.attr(1) { $0.cString("netem") }  // 10 bytes, padded to 12
        w.attr(2 | UInt16(NLA_F_NESTED)) { $0.u32(0xdead_beef) }
        w.attr(3) { $0.u32(1) }
        w.attr(3) { $0.u32(2) }  // the last one wins
        w.u16(40); w.u16(4); w.u32(0)  // claims more than is there
        let a = Attributes(w.bytes)
        #expect(a.string(1) == "netem")
        #expect(a[1] == Array("netem\0".utf8))
        #expect(a.u32(2) == 0xdead_beef)  // NLA_F_NESTED is masked off
        #expect(a.u32(3) == 2)
        #expect(a[4] == nil)
        #expect(a.byType.count == 3)
    }

    @Test func attributesOfASlice() {
        var w = ByteWriter()
        w.raw([9, 9, 9, 9])
        w.attr(5) { $0.u32(42) }
        #expect(Attributes(w.bytes[4...]).u32(5) == 42)
    }

    @Test func requestHeader() {
        let b = TCRequests.deleteRoot(ifindex: 1).bytes(seq: 0x0102_0304, pid: 5)
        #expect(b.count == 36)
        #expect(Array(b[0..<4]) == [36, 0, 0, 0])
        #expect(Array(b[4..<8]) == [37, 0, 5, 0])  // RTM_DELQDISC, REQUEST|ACK
        #expect(Array(b[8..<16]) == [4, 3, 2, 1, 5, 0, 0, 0])
    }
}

@Suite struct ExtendedAckTests {
    /// An NLMSG_ERROR for `request` carrying NLMSGERR_ATTR_MSG, as the kernel builds it.
    func errorReply(errno: Int32, echoing request: [UInt8], capped: Bool, message: String?) -> NetlinkMessage? {
        var p = ByteWriter()
        p.i32(-errno)
        p.raw(capped ? Array(request[0..<16]) : request)
        p.pad()
        if let message { p.attr(1) { $0.cString(message) } }
        var flags: UInt16 = capped ? 0x100 : 0
        if message != nil { flags |= 0x200 }
        var m = ByteWriter()
        m.u32(UInt32(16 + p.bytes.count)); m.u16(UInt16(NLMSG_ERROR)); m.u16(flags); m.u32(1); m.u32(0)
        m.raw(p.bytes)
        return NetlinkMessage.parse(m.bytes).first
    }

    let request = TCRequests.addNetem(ifindex: 1, band: 2, spec: NetemSpec(delay: .milliseconds(100))).bytes(seq: 1)

    @Test func cappedEcho() throws {
        let msg = try #require(
            errorReply(errno: EINVAL, echoing: request, capped: true, message: "Failed to find specified qdisc"))
        #expect(NetlinkSocket.extendedAck(msg) == "Failed to find specified qdisc")
    }

    @Test func fullEcho() throws {
        let msg = try #require(
            errorReply(errno: EEXIST, echoing: request, capped: false, message: "Exclusivity flag on"))
        #expect(NetlinkSocket.extendedAck(msg) == "Exclusivity flag on")
    }

    @Test func withoutTLVs() throws {
        let msg = try #require(errorReply(errno: ENOENT, echoing: request, capped: true, message: nil))
        #expect(NetlinkSocket.extendedAck(msg) == nil)
    }

    @Test func kernelErrorDescription() {
        let e = KernelError(operation: "adding netem on lo", errno: EINVAL, extendedAck: "bad")
        #expect(e.description == "adding netem on lo: Invalid argument (kernel: bad)")
    }
}
