import CNetlink
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// The tc option structs: each encodes to its kernel size and decodes back to itself, and the
/// ones netfault reads back decode what iproute2 sent (the fixtures).
@Suite struct TCWireStructTests {
    static func encoded(_ encode: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter()
        encode(&w)
        return w.bytes
    }

    @Test func prioRoundTrips() {
        let q = TCPrioQopt(bands: 16, priomap: Array(0..<16))
        let bytes = Self.encoded(q.encode)
        #expect(bytes.count == TCPrioQopt.size)
        #expect(TCPrioQopt(decoding: bytes) == q)
        #expect(TCPrioQopt(decoding: Array(bytes.prefix(19))) == nil)
    }

    @Test func netemQoptRoundTrips() {
        var q = TCNetemQopt()
        q.latency = 1; q.limit = 2; q.loss = 3; q.gap = 4; q.duplicate = 5; q.jitter = 6
        let bytes = Self.encoded(q.encode)
        #expect(bytes.count == TCNetemQopt.size)
        #expect(TCNetemQopt(decoding: bytes) == q)
        let corr = TCNetemCorr(delay: 7, loss: 8, duplicate: 9)
        #expect(TCNetemCorr(decoding: Self.encoded(corr.encode)) == corr)
        var reorder = TCNetemProbability(10)
        reorder.correlation = 11
        #expect(TCNetemProbability(decoding: Self.encoded(reorder.encode)) == reorder)
        var rate = TCNetemRate(rate: 12)
        rate.packetOverhead = -13; rate.cellSize = 14; rate.cellOverhead = -15
        #expect(Self.encoded(rate.encode).count == 16)
        #expect(TCNetemRate(decoding: Self.encoded(rate.encode)) == rate)
    }

    @Test func u32SelectorRoundTrips() {
        var s = TCU32Selector(keys: [
            TCU32Key(mask: 0x00ff_0000, value: 0x0006_0000, offset: 8),
            TCU32Key(mask: 0xffff_0000, value: 0x18eb_0000, offset: 20)
        ])
        s.hoff = -2; s.offmask = 0x0f00
        let bytes = Self.encoded(s.encode)
        #expect(bytes.count == TCU32Selector.headerSize + 2 * TCU32Key.size)
        #expect(Array(bytes[16..<20]) == [0x00, 0xff, 0x00, 0x00])  // mask in network byte order
        #expect(TCU32Selector(decoding: bytes) == s)
        #expect(TCU32Selector(decoding: Array(bytes.dropLast())) == nil)  // nkeys says more than there is
    }

    @Test func mirredRoundTrips() {
        let m = TCMirred(action: TC_ACT_STOLEN, eaction: TCA_EGRESS_REDIR, ifindex: 42)
        let bytes = Self.encoded(m.encode)
        #expect(bytes.count == TCMirred.size)
        #expect(TCMirred(decoding: bytes) == m)
    }

    /// The selector in iproute2's u32_v6_sport_src_prefix request decodes to netfault's own.
    @Test func selectorOfTheFixture() throws {
        let fixture = try #require(Fixture.all["u32_v6_sport_src_prefix"])
        let msg = try #require(NetlinkMessage.parse(fixture.bytes).first)
        let options = try #require(Attributes(msg.payload[TCMsg.size...])[TCA_OPTIONS])
        let sel = try #require(Attributes(options)[TCA_U32_SEL].flatMap(TCU32Selector.init(decoding:)))
        let match = PortMatch(family: .ipv6, side: .source, port: 3306, address: try IPPrefix.parse("2001:db8:80::/41"))
        #expect(sel == TCRequests.selector(match))
        #expect(sel.keys.count == 4)  // next header, two words of the prefix, the port
    }

    /// A netem rate64 of 2^64-1 bytes a second reads back saturated instead of trapping (the
    /// decoder multiplied it by 8 unchecked).
    @Test func hugeRate64DoesNotTrap() {
        var w = ByteWriter()
        TCNetemQopt().encode(into: &w)
        w.attr(TCA_NETEM_RATE64) { $0.u64(.max) }
        #expect(NetemDecoder.decode(w.bytes)?.rate == Rate(bitsPerSecond: .max))
    }
}
