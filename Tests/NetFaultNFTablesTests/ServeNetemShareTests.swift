import Foundation
import TestSupport
import Testing

/// Toxiproxy's toxicity on a latency toxic in serve's kernel backend, on a kernel with netem and
/// nf_tables (Debian's own in a VM, scripts/vm-test combined): the published toxiproxy-python
/// client adds it, and the daemon's lease delays a share of new connections to the real Redis,
/// each for its life. Timers under the VM's emulation are coarse, so the bounds are wide: netem
/// never delivers early, and an untouched round trip on loopback takes milliseconds.
@Suite(.serialized, .enabled(if: NFT.netem, NFT.netemReason))
struct ServeNetemShareTests {
    @Test("kernel backend: latency 200 ms at toxicity 0.5 slows 3 to 17 of 20 connections on both PINGs, the rest on neither")
    func latencyToxicityIsAShare() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            let steps = try ns.serveClient(daemon, "latency-share", "20", "0.5", "200")
            let drawn = try #require(steps["latency-share"], "\(steps)")
            #expect(drawn.fields["toxicity"] as? Double == 0.5, "the API lists \(drawn)")
            let pings = try #require(drawn.fields["pings"] as? [[Double]], "\(drawn)")
            #expect(pings.count == 20 && pings.allSatisfy { $0.count == 2 }, "\(pings)")
            let slowed = pings.filter { $0.allSatisfy { $0 >= 150 } }
            let untouched = pings.filter { $0.allSatisfy { $0 < 150 } }
            // Binomial(20, 0.5) outside 3...17: about 1 run in 2,700 by chance.
            #expect((3...17).contains(slowed.count), "slowed: \(slowed.count) of \(pings)")
            #expect(slowed.count + untouched.count == 20, "a connection slowed on one PING only: \(pings)")
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }
}
