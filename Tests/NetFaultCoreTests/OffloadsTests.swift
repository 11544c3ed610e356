import Testing
import NetFaultCore

/// Which leases are warned about segmentation offloads, and what the warning tells them to do.
@Suite struct OffloadWarningTests {
    let eth0 = SegmentationOffloads(device: "eth0", gso: true, tso: true, gro: false, mtu: 1500)

    @Test("loss, corruption, duplication and reordering are warned about; delay and rate are not")
    func perPacketFaults() {
        let loss = eth0.warning(for: NetemSpec(loss: Percent(5), corrupt: Percent(1)))
        #expect(
            loss == """
                on eth0, --loss and --corrupt are decided once per packet netem sees, not per wire packet: with gso \
                and tso on, netem sees super-packets of up to 64 KB (many wire packets each); to see wire packets: \
                ethtool -K eth0 gso off tso off
                """)
        let reorder = eth0.warning(for: NetemSpec(delay: .milliseconds(10), reorder: Percent(5)))
        #expect(reorder?.hasPrefix("on eth0, --reorder is decided") == true)
        #expect(eth0.warning(for: NetemSpec(duplicate: Percent(5))) != nil)
        #expect(eth0.warning(for: NetemSpec(delay: .milliseconds(100), rate: Rate(bitsPerSecond: 1_000_000))) == nil)
    }

    @Test("offloads off, or unknown, and a wire-sized MTU: no warning; doctor says netem sees wire packets")
    func off() {
        let off = SegmentationOffloads(device: "eth0", gso: false, tso: nil, gro: false, mtu: 9000)
        #expect(off.warning(for: NetemSpec(loss: Percent(5))) == nil)
        #expect(off.summary == "gso off, tso unknown, gro off, mtu 9000: netem sees wire packets")
    }

    @Test("lo's 64 KB MTU makes large packets even with the offloads off, and the warning says so")
    func loopbackMTU() throws {
        let lo = SegmentationOffloads(device: "lo", gso: false, tso: false, gro: false, mtu: 65536)
        let w = try #require(lo.warning(for: NetemSpec(loss: Percent(5))))
        #expect(
            w.hasSuffix("lo's MTU of 65536 lets one packet carry 65536 bytes (for wire-sized packets: ip link set lo mtu 1500)"))
        #expect(!w.contains("ethtool"))
    }

    @Test("doctor names every offload's state and the ethtool command for those on")
    func summary() {
        #expect(eth0.enabled == ["gso", "tso"])
        #expect(eth0.summary.hasPrefix("gso on, tso on, gro off, mtu 1500: netem decides --loss"))
        #expect(eth0.summary.hasSuffix("ethtool -K eth0 gso off tso off"))
    }
}
