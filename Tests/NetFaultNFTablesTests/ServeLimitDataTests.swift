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

    /// One connection: a GET of 3000 bytes, a pause longer than the daemon's lease timeout (its
    /// renewals keep the ports, not the connections' budgets), then the same GET.
    static let twoGets = """
        import redis, sys, time
        r = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)
        first = len(r.get("mid") or b"")
        time.sleep(float(sys.argv[1]))
        try:
            print(first, len(r.get("mid") or b""))
        except redis.ConnectionError as e:
            print(first, "reset", e)
        """

    @Test("kernel backend: a connection's limit_data budget outlives the daemon's lease renewals (10 s)")
    func budgetOutlivesRenewals() throws {
        try withServers(redis: [6379], mariadb: false) { ns in
            let value = try ns.exec("redis-cli", "-p", "6379", "set", "mid", String(repeating: "x", count: 3000))
            #expect(value.stdout.contains("OK"), "\(value)")
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, journal: ns.journal)
            #expect(try ns.http(daemon, "POST", "/proxies", #"{"name":"redis","upstream":"127.0.0.1:6379"}"#).status == 201)
            let toxic = #"{"type":"limit_data","attributes":{"bytes":4096}}"#
            #expect(try ns.http(daemon, "POST", "/proxies/redis/toxics", toxic).status == 200)
            let pause = Double(KernelBackendTimeout.seconds) + 2
            let r = try ns.exec(python, "-c", Self.twoGets, "\(pause)")
            #expect(r.stdout.hasPrefix("3000 reset"), "the second GET, \(pause) s later: \(r.stdout) \(r.stderr)")
            let end = daemon.terminate()
            #expect(end.status == 0, "serve exit \(end.status): \(end.output)")
            try ns.expectBaseline()
        }
    }
}

/// serve's held lease timeout (KernelBackend.leaseTimeout), which the test must outlast.
enum KernelBackendTimeout {
    static let seconds = 10
}
