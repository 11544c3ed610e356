import Foundation
import TestSupport
import Testing

/// The sidecar's view: netfault in the server's namespace, clients on another host (a second
/// namespace joined by a veth pair, the way a service container is reached over its eth0).
/// Requests to a local server arrive on input, so they must be caught there.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct SidecarTests {
    @Test(
        """
        a blackhole and a reject applied in the server's namespace reach a client on another host; the lease says \
        server here
        """,
        arguments: [("--blackhole", "timeout"), ("--reject", "refused")])
    func remoteClient(fault: String, outcome: String) throws {
        try withTwoHosts { server, client, _ in
            #expect(try probe(fromHost: client, "redis-ping").outcome == "ok")
            let lease = try server.apply("redis", fault, "--for", "1m")
            #expect(lease.output["server"] as? String == "local", "\(lease.output)")
            #expect(try probe(fromHost: client, "redis-ping").outcome == outcome)
            #expect(try server.probe("redis-ping", "127.0.0.1", 6379).outcome == outcome, "loopback clients too")
            #expect(try server.revert(lease.id).status == 0)
            #expect(try probe(fromHost: client, "redis-ping").outcome == "ok")
        }
    }

    @Test(
        """
        --server remote in the server's namespace catches requests leaving only: \
        the other host's client is not faulted
        """
    )
    func remoteOverride() throws {
        try withTwoHosts { server, client, _ in
            let lease = try server.apply("redis", "--blackhole", "--server", "remote", "--for", "1m")
            #expect(lease.output["server"] as? String == "remote")
            #expect(try probe(fromHost: client, "redis-ping").outcome == "ok")
            #expect(try server.revert(lease.id).status == 0)
        }
    }

    @Test("a local server's netem lease on lo warns that clients over the veth are not faulted, and names --iface")
    func netemOnLoWarns() throws {
        try withTwoHosts { server, _, veth in
            func warnings(_ args: String...) throws -> [String] {
                let r = try server.invoke(["apply", "redis", "--dry-run", "--json"] + args + ["--netns", server.name])
                #expect(r.status == 0, "\(r.stderr)")
                return jsonObject(r)["warnings"] as? [String] ?? ["no warnings key: \(r.stdout)"]
            }
            let onLo = try warnings("--delay", "100ms")
            #expect(
                onLo.count == 1 && onLo[0].contains("on lo only") && onLo[0].contains("Add --iface \(veth)"), "\(onLo)")
            #expect(try warnings("--delay", "100ms", "--iface", veth) == [])
            #expect(try warnings("--blackhole") == [], "connection faults catch every device")
            #expect(try warnings("--delay", "100ms", "--server", "remote") == [])
        }
    }
}
