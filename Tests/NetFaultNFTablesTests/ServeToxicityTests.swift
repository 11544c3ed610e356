import Foundation
import TestSupport
import Testing

/// Toxiproxy's toxicity in serve's kernel backend: the published toxiproxy-python client adds a
/// reset_peer toxic of toxicity 0.3, and that share of new connections to the real Redis is
/// refused in the kernel (its SYN answered with a RST), the rest served.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ServeToxicityTests {
    @Test("kernel backend: toxicity 0.3 from toxiproxy-python refuses 30% ± 5σ of 300 new connections, none once removed")
    func toxicityIsAShareOfConnections() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            let steps = try ns.serveClient(daemon, "toxicity", "300", "0.3")
            let drawn = try #require(steps["toxicity"], "\(steps)")
            #expect(drawn.fields["toxicity"] as? Double == 0.3, "the API lists \(drawn)")
            let counts = try #require(drawn.fields["counts"] as? [String: Int], "\(drawn)")
            let refused = counts["refused", default: 0] + counts["reset", default: 0]
            // Binomial(300, 0.3): 90 ± 5σ (σ ≈ 7.9) fails by chance about once in two million runs.
            let sigma = (300 * 0.3 * 0.7).squareRoot()
            #expect(Double(refused) >= 90 - 5 * sigma && Double(refused) <= 90 + 5 * sigma, "\(counts)")
            #expect(refused + counts["ok", default: 0] == 300, "outcomes other than refused and served: \(counts)")
            // /metrics counts the toxic's reset rule: one refused SYN each, not the draws' SYNs.
            #expect(drawn.fields["matched_packets"] as? Double == Double(refused), "\(drawn)")
            #expect(steps["removed"]?.fields["counts"] as? [String: Int] == ["ok": 300], "\(steps["removed"]!)")
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }

    @Test("kernel backend: a drawn reset beside a hang is a mix")
    func drawnResetBesideHangIsAMix() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            #expect(try ns.http(daemon, "POST", "/proxies", #"{"name":"redis","upstream":"127.0.0.1:6379"}"#).status == 201)
            let hang = try ns.http(
                daemon, "POST", "/proxies/redis/toxics", #"{"name":"stuck","type":"timeout","stream":"upstream"}"#)
            #expect(hang.status == 200, "\(hang)")
            let some = try ns.http(
                daemon, "POST", "/proxies/redis/toxics",
                #"{"name":"some","type":"reset_peer","stream":"upstream","toxicity":0.3}"#)
            #expect(some.status == 200, "\(some)")
            let sets = try ns.ruleset()
            #expect(sets.contains("set chosen4_2 {") && sets.contains("set chosen6_2 {"), "\(sets)")
            #expect(try ns.http(daemon, "DELETE", "/proxies/redis/toxics/stuck").status == 204)
            #expect(try ns.http(daemon, "DELETE", "/proxies/redis/toxics/some").status == 204)
            #expect(try ns.http(daemon, "GET", "/proxies/redis/toxics").body == "[]")
            try ns.expectBaseline()
            #expect(daemon.terminate().status == 0)
        }
    }
}
