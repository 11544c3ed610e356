import Foundation
import TestSupport
import Testing

/// serve's kernel backend maps a downstream slicer onto --slice, driven through toxiproxy-python
/// (scripts/serve-client slicer): the server's segments, counted by the test's own table, carry
/// at most average_size bytes while the toxic is there, the GETs arrive whole, and once the
/// daemon has ended they are full again.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ServeSlicerTests {
    @Test("kernel backend: slicer average_size 100 cuts the server's segments to 100 bytes; the GETs arrive whole")
    func slicerClampsTheServersSegments() throws {
        try withServers(redis: [6379], mariadb: false) { ns in
            #expect(try ns.exec("ip", "link", "set", "lo", "mtu", "1500").status == 0)
            #expect(try ns.exec("ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off").status == 0)
            let slices = ConnectionSliceTests()
            #expect(try ns.exec("python3", "-c", ConnectionBudgetTests.getter, "127.0.0.1", "set").stdout.contains("OK"))
            try slices.countOversized(ns)
            // Without the toxic the count sees full segments (so it can fail).
            #expect(try slices.get(ns, "127.0.0.1").hasPrefix("whole \(ConnectionBudgetTests.reply)"))
            let before = try slices.oversized(ns)
            #expect(before > 10, "\(before) oversized packets without a slicer")
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            let steps = try ns.serveClient(daemon, "slicer", "100")
            for name in ["slicer/proxy", "slicer/direct"] {
                #expect(steps[name]?.outcome == "ok", "\(name): \(steps[name] as Any)")
            }
            #expect(try slices.oversized(ns) == before, "a segment over 100 bytes under the slicer")
            let end = daemon.terminate()
            #expect(end.status == 0, "serve exit \(end.status): \(end.output)")
            // With the daemon gone, so is the clamp: the next GET's segments are full again.
            #expect(try slices.get(ns, "127.0.0.1").hasPrefix("whole \(ConnectionBudgetTests.reply)"))
            #expect(try slices.oversized(ns) > before, "still sliced after the daemon ended")
            #expect(try ns.exec("nft", "delete", "table", "inet", "slicecount").status == 0)
            try ns.expectBaseline()
        }
    }
}
