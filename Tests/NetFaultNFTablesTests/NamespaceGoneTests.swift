import Foundation
import TestSupport
import Testing

/// A lease whose named namespace is deleted (`ip netns del`) under it.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct NamespaceGoneTests {
    /// Exited: no such process, or a zombie its new parent has not reaped yet.
    /// Polls `condition` every 50 ms for up to `seconds`.
    func within(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = monotonicMs() + seconds * 1000
        repeat {
            if try condition() { return true }
            usleep(50_000)
        } while monotonicMs() < deadline
        return false
    }

    @Test(
        """
        ip netns del of a lease's namespace: its watchdog exits within seconds, the lease leaves the journal, and \
        the namespace goes (its veth peer elsewhere with it)
        """
    )
    func deletedUnderTheLease() throws {
        try withNamespace { other in
            try withNamespace { ns in
                let veth = try ns.exec(
                    "ip", "link", "add", "nfgone0", "type", "veth", "peer", "nfgone1", "netns", other.name)
                #expect(veth.status == 0, "\(veth.stderr)")
                let lease = try ns.apply("redis", "--blackhole", "--for", "2m")
                let pid = pid_t(try #require(lease.output["watchdog_pid"] as? Int, "watchdog_pid in \(lease.output)"))
                let del = try run("ip", ["netns", "del", ns.name])
                #expect(del.status == 0, "\(del.stderr)")
                ns.forget(lease.id)  // nothing to revert by name any more
                #expect(awaitExit(pid, seconds: 5), "the watchdog \(pid) still holds the deleted namespace")
                let entry = "\(stateDir)/leases/\(lease.id).json"
                #expect(access(entry, F_OK) != 0, "the watchdog left its journal entry \(entry)")
                let log = (try? String(contentsOfFile: "\(stateDir)/watchdog.log", encoding: .utf8)) ?? ""
                #expect(
                    log.contains("lease \(lease.id) reverted (its network namespace \(ns.name) is gone"),
                    "watchdog.log: \(log.suffix(1500))")
                let status = try run(netfaultPath, ["status", "--all-namespaces", "--json"])
                #expect(status.status == 0, "\(status.stderr)")
                #expect(!status.stdout.contains(lease.id), "\(status.stdout)")
                // The namespace went with its last reference, and the veth pair with it.
                #expect(
                    try within(5) { try other.exec("ip", "link", "show", "nfgone1").status != 0 },
                    "the veth peer in \(other.name) outlived the deleted namespace")
            }
        }
    }
}
