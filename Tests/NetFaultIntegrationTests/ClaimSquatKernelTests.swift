import Foundation
import TestSupport
import Testing

/// Claims against an unprivileged squatter (uid 65534) on a kernel with netem: the names a claim
/// may have are bound by nobody first, bare (a connect sees them as free) or listening (a
/// connect finds a holder). Neither may block netfault nor keep a fault alive.
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct ClaimSquatKernelTests {
    init() throws { try cleanUp() }

    /// Every fixed name a claim of lo, of lo's ifb or of a probe started soon could have (the
    /// probe's is named by its pid), and one address under each name's prefix.
    func everyName() throws -> (fixed: [String], prefixed: [String]) {
        // The newest pid is /proc/loadavg's last field (user-mode Linux has no ns_last_pid).
        let loadavg = try String(contentsOfFile: "/proc/loadavg", encoding: .utf8)
        let last = try #require(loadavg.split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) })
        let bands = ["lo", "nfifb1"].flatMap { d in (2...16).map { "netfault/band/\(d)/\($0)" } }
        let probes = (last + 1...last + 500).flatMap { p in ["a", "b"].map { "netfault/probe/nfprobe\(p)\($0)" } }
        let fixed = bands + probes
        return (fixed, fixed.map { $0 + "/00112233445566778899aabbccddeeff" })
    }

    /// `doctor --json`: which features work.
    func doctor() throws -> [String: Bool] {
        let r = try netfault("doctor", "--json")
        let list = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        return Dictionary(list.compactMap { f in (f["feature"] as? String).map { ($0, f["ok"] as? Bool ?? false) } }) {
            a, _ in a
        }
    }

    @Test("as nobody, every claim and probe name squatted: apply, status, revert and doctor do as without squatters")
    func squatEverything() throws {
        let redis = try RedisServer(port: 6379)
        let before = try tcSnapshot()
        let clean = try doctor()
        #expect(clean["netem"] == true && clean["unix_diag"] == true, "\(clean)")
        let names = try everyName()
        let squatter = try Squatter(bound: names.fixed, listening: names.prefixed)
        defer { squatter.release() }
        let base = try medianPing(port: redis.port)
        let r = try netfault("apply", "redis", "--delay", "100ms", "--for", "60s", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let id = try leaseID(r)
        let band = ((try jsonObject(r))["installed"] as? [[String: Any]])?.first?["band"] as? Int
        #expect(band == 2, "the first free band, as without squatters: \(r.stdout)")
        let during = try medianPing(port: redis.port)
        #expect(abs(during - base - 100) <= 20, "redis grew by \(during - base) ms")
        let status = try netfault("status")
        #expect(status.status == 0 && status.stdout.contains(id), "\(status.stdout) \(status.stderr)")
        #expect(!status.stdout.contains("held by"), "a squatter passed for another netfault: \(status.stdout)")
        let revert = try netfault("revert", id)
        #expect(revert.status == 0, "\(revert.stderr)")
        #expect(try tcSnapshot() == before)
        #expect(try doctor() == clean, "doctor with squatters differs")
    }

    @Test(
        "a killed watchdog's band, its journal entry gone, its addresses re-bound by nobody: the next command removes it",
        arguments: ["revert --all", "apply"])
    func squattedOrphan(next: String) throws {
        let redis = try RedisServer(port: 6379)
        let before = try tcSnapshot()
        let base = try medianPing(port: redis.port)
        let a = try netfault("apply", "redis", "--delay", "300ms", "--for", "2m", "--json")
        #expect(a.status == 0, "\(a.stderr)")
        let id = try leaseID(a)
        // What every user sees in /proc/net/unix: the watchdog's claim addresses.
        let addresses = try Squatter.boundNames(prefix: "netfault/band/lo/")
        #expect(!addresses.isEmpty)
        kill(pid_t(try #require(try jsonObject(a)["watchdog_pid"] as? Int)), SIGKILL)
        try FileManager.default.removeItem(atPath: "/run/netfault/leases/\(id).json")
        for _ in 0..<100 where !(try Squatter.boundNames(prefix: "netfault/band/lo/")).isEmpty { usleep(50_000) }
        let fixed = (2...16).map { "netfault/band/lo/\($0)" }
        let squatter = try Squatter(listening: Array(Set(addresses + fixed)))
        defer { squatter.release() }
        #expect(try tcSnapshot() != before, "the orphan band is left")
        if !Kernel.emulated {
            // Steered by u32 filters here (no nf_tables); in the VM the lease's owner table, gone
            // with the watchdog, steered it, so the band is left idle.
            #expect(try medianPing(port: redis.port) - base >= 250, "the orphan band is in force")
        }
        if next == "apply" {
            let b = try netfault("apply", "redis", "--delay", "10ms", "--for", "60s", "--json")
            #expect(b.status == 0, "\(b.stderr)")
            let during = try medianPing(port: redis.port)
            #expect(during - base < 100, "the orphan's 300 ms survived the next apply's sweep (\(during - base) ms)")
            #expect(try netfault("revert", try leaseID(b)).status == 0)
        } else {
            let r = try netfault("revert", "--all")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.stdout.contains("held by"), "\(r.stdout)")
        }
        let status = try netfault("status")
        #expect(!status.stdout.contains("held by"), "a squatter kept the orphan: \(status.stdout)")
        #expect(try tcSnapshot() == before, "the orphan band was kept")
    }

    @Test("a kernel without unix_diag: apply of a netem fault exits 69 naming CONFIG_UNIX_DIAG, doctor says so")
    func noUnixDiag() throws {
        let moduleDir = try #require(Kernel.moduleDir, "the UML module directory is needed to reload unix_diag")
        let before = try tcSnapshot()
        #expect(try run("rmmod", ["unix_diag"]).status == 0)
        defer { _ = try? run("modprobe", ["-d", moduleDir, "unix_diag"]) }
        let r = try netfault("apply", "redis", "--delay", "10ms")
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.contains("CONFIG_UNIX_DIAG") && r.stderr.contains("modprobe unix_diag"), "\(r.stderr)")
        #expect(try tcSnapshot() == before)
        let doctor = try netfault("doctor")
        let line = doctor.stdout.split(separator: "\n").first { $0.contains("unix_diag ") } ?? ""
        #expect(line.hasPrefix("MISS") && line.contains("CONFIG_UNIX_DIAG"), "\(doctor.stdout)")
    }
}
