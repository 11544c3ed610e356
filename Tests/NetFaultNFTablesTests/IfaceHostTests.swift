import Foundation
import TestSupport
import Testing

/// --iface and --host that no packet passes together, decided on the namespace's own routes.
/// This kernel has no netem, so the check is reached through --dry-run: it makes the same plan
/// as apply, from the same kernel state, and changes nothing either way.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct IfaceHostTests {
    @Test(
        """
        --iface lo --host 10.50.0.2 (routed through a veth) and --iface VETH --host 127.0.0.1 exit 64 saying why; \
        --iface lo with the namespace's own address is accepted
        """
    )
    func loopbackMismatch() throws {
        try withNamespace { ns in
            for cmd in [
                ["ip", "link", "add", "nfh0", "type", "veth", "peer", "name", "nfh1"],
                ["ip", "addr", "add", "10.50.0.1/24", "dev", "nfh0"],
                ["ip", "link", "set", "nfh0", "up"], ["ip", "link", "set", "nfh1", "up"]
            ] {
                let r = try ns.exec(cmd)
                try #require(r.status == 0, "\(cmd): \(r.stderr)")
            }
            let before = try ns.exec("tc", "qdisc", "show").stdout + (try ns.ruleset())
            let remote = try ns.netfault(
                "apply", "redis", "--delay", "10ms", "--iface", "lo", "--host", "10.50.0.2", "--dry-run")
            #expect(remote.status == 64, "\(remote.stdout) \(remote.stderr)")
            let why = "--iface lo is the loopback device, but --host 10.50.0.2 is reached through nfh0"
            #expect(remote.stderr.contains(why) && remote.stderr.contains("leave out --iface"), "\(remote.stderr)")
            let loopback = try ns.netfault(
                "apply", "redis", "--delay", "10ms", "--iface", "nfh0", "--host", "127.0.0.1", "--dry-run")
            #expect(loopback.status == 64, "\(loopback.stdout) \(loopback.stderr)")
            #expect(loopback.stderr.contains("--host 127.0.0.1 is a loopback address"), "\(loopback.stderr)")
            let own = try ns.netfault(
                "apply", "redis", "--delay", "10ms", "--iface", "lo", "--host", "10.50.0.1", "--dry-run")
            #expect(own.status == 0, "this host's own address goes over lo: \(own.stderr)")
            #expect(try ns.exec("tc", "qdisc", "show").stdout + (try ns.ruleset()) == before)
            #expect(try ns.statusLeases().allSatisfy { $0["netns"] as? String != ns.name })
        }
    }
}
