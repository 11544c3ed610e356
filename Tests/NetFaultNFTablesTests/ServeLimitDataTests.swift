import Foundation
import TestSupport
import Testing

/// serve's kernel backend maps a downstream limit_data toxic onto --limit-data: driven through
/// toxiproxy-python (scripts/serve-client limit), each GET on a new connection, with 1500-byte
/// frames and no offloads on loopback so that the server's reply leaves in segments.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ServeLimitDataTests {
    func outcome(_ steps: [String: Step], _ name: String) -> String { steps[name]?.outcome ?? "missing" }

    @Test("kernel backend: limit_data 4096 resets a 64 KB GET, direct and through the proxy; a new connection answers")
    func limitDataResetsTheClient() throws {
        try withServers(redis: [6379], mariadb: false) { ns in
            #expect(try ns.exec("ip", "link", "set", "lo", "mtu", "1500").status == 0)
            #expect(try ns.exec("ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off").status == 0)
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            let steps = try ns.serveClient(daemon, "limit", "4096")
            for name in ["before", "removed", "limit/ping"] {
                #expect(outcome(steps, name + "/proxy") == "ok", "\(steps[name + "/proxy"] as Any)")
                #expect(outcome(steps, name + "/direct") == "ok", "\(steps[name + "/direct"] as Any)")
            }
            // The budget counts what the server sends on each connection: its own clients'
            // connections too (the proxy's to the server is one), and each one is reset.
            #expect(outcome(steps, "limit/direct") == "reset", "\(steps["limit/direct"] as Any)")
            #expect(["reset", "closed", "error"].contains(outcome(steps, "limit/proxy")), "\(steps["limit/proxy"] as Any)")
            let end = daemon.terminate()
            #expect(end.status == 0, "serve exit \(end.status): \(end.output)")
            try ns.expectBaseline()
        }
    }
}
