import Foundation
import TestSupport
import Testing

/// The watchdog is a fork of apply (no second start of the program): it must still look like
/// `netfault __watchdog ID` to sweeps and crash tooling, hold nothing of apply's but what it
/// was given, and end its lease on each revert signal.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct WatchdogStartTests {
    /// The NUL-separated arguments of `pid`.
    func arguments(_ pid: pid_t) -> [String] {
        let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The descriptors `pid` holds.
    func descriptors(_ pid: pid_t) -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap { Int($0) }.sorted()
    }

    @Test(
        "apply forks its watchdog: seen as netfault __watchdog ID, holding stdio, entry and table only; the signal reverts",
        arguments: [SIGTERM, SIGINT, SIGHUP])
    func forkedWatchdog(signal: Int32) throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let lease = try ns.apply("redis", "--reject", "--for", "2m")
            let pid = pid_t(try #require(lease.output["watchdog_pid"] as? Int, "watchdog_pid in \(lease.output)"))
            #expect(arguments(pid) == ["netfault", "__watchdog", lease.id])
            // 0-2 (/dev/null, the log twice), 3 the journal entry, 4 the table's socket: no
            // journal lock, no other socket of apply's, from the moment apply returns (a child
            // stopped before it closed the lock's descriptor held the lock for every netfault).
            #expect(descriptors(pid) == [0, 1, 2, 3, 4], "\(descriptors(pid))")
            let log = try String(contentsOfFile: "\(ns.dir)/journal/watchdog.log", encoding: .utf8)
            let own = log.split(separator: "\n").filter { $0.contains("pid=\(pid)") }
            #expect(own.contains { $0.hasSuffix("started by fork") }, "\(log)")
            #expect(kill(pid, signal) == 0)
            #expect(awaitExit(pid, seconds: 10), "the watchdog exits on signal \(signal)")
            let gone = try ns.awaitTableGone("netfault-\(lease.id)", seconds: 1)
            let tables = try ns.tables()
            #expect(gone, "\(tables)")
            #expect(try ns.statusLeases().isEmpty, "the lease left the journal")
            #expect(try ns.probe("redis-ping", "127.0.0.1", 6379).outcome == "ok")
            ns.forget(lease.id)
            try ns.expectBaseline()
        }
    }
}
