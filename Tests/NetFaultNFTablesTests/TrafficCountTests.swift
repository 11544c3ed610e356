import Foundation
import TestSupport
import Testing

/// Whether a fault touched any traffic: the packets each lease matched, from the kernel's own
/// counters, in status, revert and run; and run --expect-traffic. On this host's kernel, in a
/// fresh namespace, against a real redis-server.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct TrafficCountTests {
    @Test("status and revert count the packets a lease matched: 0 before a client comes, more after")
    func counted() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--reject", "--for", "1m")
            #expect(lease.output["packets_matched"] as? Int == 0, "\(lease.output)")
            #expect(try ns.netfault("status").stdout.contains("packets matched so far: 0"))
            #expect(try ns.probe("connect", "127.0.0.1", 6379).outcome == "refused")
            let entry = try #require(try ns.statusLeases().first { $0["lease"] as? String == lease.id })
            #expect((entry["packets_matched"] as? Int ?? 0) >= 1, "\(entry)")
            let revert = try ns.netfault("revert", lease.id, "--json")
            #expect(revert.status == 0, "\(revert.stderr)")
            let matched = jsonObject(revert)["matched_packets"] as? [String: Int]
            #expect((matched?[lease.id] ?? 0) >= 1, "\(revert.stdout)")
            ns.forget(lease.id)
        }
    }

    @Test("run --expect-traffic exits 65 when the command never reached the faults, else with the command's status")
    func expectTraffic() throws {
        try withServers(mariadb: false) { ns in
            // netfault runs inside the namespace, so the command does too.
            let idle = try ns.execNetfault(["run", "redis", "--reject", "--expect-traffic", "--", "true"])
            #expect(idle.status == 65, "\(idle.stderr)")
            #expect(idle.stderr.contains("matched no packet"), "\(idle.stderr)")
            let plain = try ns.execNetfault(["run", "redis", "--reject", "--", "true"])
            #expect(plain.status == 0, "without --expect-traffic the command's status: \(plain.stderr)")
            let client = try ns.execNetfault([
                "run", "redis", "--reject", "--expect-traffic", "--", python, probePath, "connect", "127.0.0.1", "6379"
            ])
            #expect(client.status == 0, "\(client.stdout) \(client.stderr)")
            #expect(client.stdout.contains("refused"), "\(client.stdout)")
            #expect(client.stderr.contains("matched 1 packet") || client.stderr.contains("packets"), "\(client.stderr)")
            try ns.expectBaseline()
        }
    }
}
