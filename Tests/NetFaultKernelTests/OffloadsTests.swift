import Foundation
import NetFaultCore
import NetFaultKernel
import TestSupport
import Testing

/// The offload reader against this machine's own lo (no privilege needed).
@Suite struct OffloadsReaderTests {
    @Test("lo's offloads, read through SIOCETHTOOL, are what `ethtool -k lo` prints, and its MTU what /sys says")
    func loopback() throws {
        let lo = SegmentationOffloads.read(device: "lo")
        #expect(lo.gso != nil && lo.tso != nil && lo.gro != nil, "\(lo)")
        let mtu = try String(contentsOfFile: "/sys/class/net/lo/mtu", encoding: .utf8).trimmed
        #expect(lo.mtu.map(String.init) == mtu)
        // ethtool is a test tool only (netfault never runs it): apt-get install ethtool.
        let ethtool = try? run("ethtool", ["-k", "lo"])
        try #require(ethtool?.status == 0, "ethtool -k lo: \(ethtool?.stderr ?? "ethtool not installed")")
        func state(_ feature: String) -> Bool? {
            let line = ethtool?.stdout.split(separator: "\n").first { $0.hasPrefix(feature + ":") }
            return line.map { $0.dropFirst(feature.count + 1).trimmed.hasPrefix("on") }
        }
        #expect(lo.gso == state("generic-segmentation-offload"))
        #expect(lo.tso == state("tcp-segmentation-offload"))
        #expect(lo.gro == state("generic-receive-offload"))
    }

    @Test("a device that does not exist reads as unknown; the reader never fails")
    func missingDevice() {
        let none = SegmentationOffloads.read(device: "nfnosuch0")
        #expect(none == SegmentationOffloads(device: "nfnosuch0", gso: nil, tso: nil, gro: nil, mtu: nil))
        #expect(none.caveat == nil && none.stateText == "gso unknown, tso unknown, gro unknown")
    }

    @Test("doctor's list holds lo")
    func all() throws {
        #expect(try SegmentationOffloads.readAll().contains { $0.device == "lo" })
    }
}
