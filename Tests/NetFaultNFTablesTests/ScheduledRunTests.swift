import Foundation
import TestSupport
import Testing

/// `netfault run FAULT --every 6s --on 5s --for 17s` in `ns`, watched by one `nft monitor`: the
/// run, and for every lease it reported in force (each on-period is a lease of its own) who
/// ends it at its deadline as the kernel's own account shows: "kernel" when the lease's table got
/// an expiring element (and, for netem, a rule that steers to the band), else "watchdog".
func scheduledPeriodsEnforcement(
    _ ns: Namespace, _ fault: [String]
) throws -> (run: Run, enforcedBy: [String: String]) {
    ns.ownJournal()
    let monitor = try RulesetMonitor(ns)
    defer { monitor.stop() }
    let r = try run(
        "/usr/bin/env",
        ["NETFAULT_STATE_DIR=\(ns.dir)/journal", netfaultPath, "run", "redis"] + fault + [
            "--every", "6s", "--on", "5s", "--for", "17s", "--netns", ns.name, "--", "sleep", "17",
        ])
    // The last period's table may still be on its way to the monitor's pipe.
    let ids = r.stderr.matches(of: /lease (nf-[0-9a-f]{6}) in force/).map { String($0.1) }
    monitor.read(seconds: 10) { lines in ids.allSatisfy { id in lines.contains { $0.contains("netfault-\(id) ") } } }
    monitor.stop()
    let netem = fault.contains("--delay")
    var enforcedBy: [String: String] = [:]
    for id in ids {
        let seen = monitor.lease(id)
        enforcedBy[id] = seen.expiring && (seen.steering || !netem) ? "kernel" : "watchdog"
    }
    return (r, enforcedBy)
}

/// Expects each sampled on-period's lease to be enforced by the kernel, and more than one period seen.
func expectEveryPeriodKernelEnforced(
    _ ns: Namespace, _ fault: [String], sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let (r, enforcedBy) = try scheduledPeriodsEnforcement(ns, fault)
    #expect(r.status == 0, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    #expect(enforcedBy.count >= 2, "periods seen: \(enforcedBy); \(r.stderr)", sourceLocation: sourceLocation)
    #expect(
        enforcedBy.values.allSatisfy { $0 == "kernel" }, "deadline_enforced_by per period: \(enforcedBy)",
        sourceLocation: sourceLocation)
}

/// `run --every/--on`: each on-period's lease has its deadline enforced by nf_tables, as an
/// `apply` of the same faults would. The netem half of this (a period's band steered by the
/// lease's table) runs where netem is: CombinedFaultTests' `scheduledNetemPeriods`.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ScheduledRunTests {
    @Test("run --reject --every 6s --on 5s: every period's lease is enforced by the kernel")
    func rejectPeriodsKernelEnforced() throws {
        try withServers(mariadb: false) { ns in
            try expectEveryPeriodKernelEnforced(ns, ["--reject"])
            try ns.expectBaseline()
        }
    }

    @Test(
        """
        run --reject --every 3s --on 2s with the first period's watchdog stopped: the revert does not wait for it, \
        and the next period starts on time
        """)
    func stoppedWatchdogKeepsSchedule() throws {
        try withServers(mariadb: false) { ns in
            ns.ownJournal()
            let runner = try spawn(
                [
                    "/usr/bin/env", "NETFAULT_STATE_DIR=\(ns.dir)/journal", netfaultPath, "run", "redis", "--reject",
                    "--every", "3s", "--on", "2s", "--for", "8s", "--netns", ns.name, "--", "sleep", "7",
                ], captureOutput: true)
            var seen: [(id: String, at: Int64)] = []
            var stopped: pid_t = 0
            let begun = monotonicMs()
            while seen.count < 2 && monotonicMs() - begun < 12_000 {
                for lease in try ns.statusLeases() {
                    guard let id = lease["lease"] as? String, !seen.contains(where: { $0.id == id }) else { continue }
                    seen.append((id, Int64(monotonicMs())))
                    if stopped == 0, let pid = lease["watchdog_pid"] as? Int {
                        stopped = pid_t(pid)
                        kill(stopped, SIGSTOP)
                    }
                }
                usleep(50_000)
            }
            let r = collect(runner)
            if stopped != 0 && isRunning(stopped) { kill(stopped, SIGKILL) }
            #expect(r.status == 0, "exit \(r.status): \(r.stderr)")
            #expect(stopped != 0, "no watchdog to stop: \(r.stderr)")
            try #require(seen.count == 2, "the second period never came: \(seen) \(r.stderr)")
            // 3s apart on the schedule; a revert that waited 3s for the stopped watchdog made it 5s or more.
            let apart = seen[1].at - seen[0].at
            #expect(apart < 4_200, "the second period began \(apart) ms after the first: \(r.stderr)")
            try ns.expectBaseline()
        }
    }
}
