import Foundation
import TestSupport
import Testing

/// The sidecar's view: netfault in the server's namespace, clients on another host (a second
/// namespace joined by a veth pair, the way a service container is reached over its eth0).
/// Requests to a local server arrive on input, so they must be caught there.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct SidecarTests {
    /// `body` gets the server's namespace (redis on 10.77.0.1:6379 and loopback) and the
    /// client's namespace name.
    func withTwoHosts(_ body: (Namespace, String) throws -> Void) throws {
        try withNamespace { server in
            let client = "nfc-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
            try #require(try run("ip", ["netns", "add", client]).status == 0)
            defer { _ = try? run("ip", ["netns", "del", client]) }
            let veth = "nfv" + String(UInt16.random(in: 0...UInt16.max), radix: 16)
            for cmd in [
                ["link", "add", veth, "netns", server.name, "type", "veth", "peer", "name", "eth0", "netns", client],
                ["-n", server.name, "addr", "add", "10.77.0.1/24", "dev", veth],
                ["-n", server.name, "link", "set", veth, "up"],
                ["-n", client, "addr", "add", "10.77.0.2/24", "dev", "eth0"],
                ["-n", client, "link", "set", "eth0", "up"],
                ["-n", client, "link", "set", "lo", "up"]
            ] {
                let r = try run("ip", cmd)
                try #require(r.status == 0, "ip \(cmd.joined(separator: " ")): \(r.stderr)")
            }
            try server.startRedis(port: 6379, bind: "127.0.0.1 10.77.0.1")
            server.baseline = try server.ruleset()
            try body(server, client)
            try server.expectBaseline()
        }
    }

    func probe(_ client: String, _ scenario: String) throws -> String {
        let r = try run(
            "ip", ["netns", "exec", client, python, probePath, scenario, "10.77.0.1", "6379", "--timeout", "1.5"])
        return jsonObject(r.stdout)["outcome"] as? String ?? "no outcome: \(r.stdout) \(r.stderr)"
    }

    @Test(
        """
        a blackhole and a reject applied in the server's namespace reach a client on another host; the lease says \
        server here
        """,
        arguments: [("--blackhole", "timeout"), ("--reject", "refused")])
    func remoteClient(fault: String, outcome: String) throws {
        try withTwoHosts { server, client in
            #expect(try probe(client, "redis-ping") == "ok")
            let lease = try server.apply("redis", fault, "--for", "1m")
            #expect(lease.output["server"] as? String == "local", "\(lease.output)")
            #expect(try probe(client, "redis-ping") == outcome)
            #expect(try server.probe("redis-ping", "127.0.0.1", 6379).outcome == outcome, "loopback clients too")
            #expect(try server.revert(lease.id).status == 0)
            #expect(try probe(client, "redis-ping") == "ok")
        }
    }

    @Test(
        """
        --server remote in the server's namespace catches requests leaving only: \
        the other host's client is not faulted
        """
    )
    func remoteOverride() throws {
        try withTwoHosts { server, client in
            let lease = try server.apply("redis", "--blackhole", "--server", "remote", "--for", "1m")
            #expect(lease.output["server"] as? String == "remote")
            #expect(try probe(client, "redis-ping") == "ok")
            #expect(try server.revert(lease.id).status == 0)
        }
    }
}
