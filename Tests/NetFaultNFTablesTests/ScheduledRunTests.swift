import Foundation
import TestSupport
import Testing

/// `netfault run FAULT --every 6s --on 5s --for 17s` in `ns`, whose command samples
/// `status --json` every half second: the run, and `deadline_enforced_by` of every lease the
/// samples saw, by lease id (each on-period is a lease of its own). The periods are long: under
/// the VM's emulation a period's apply, with its watchdog's start, takes seconds.
func scheduledPeriodsEnforcement(
    _ ns: Namespace, _ fault: [String]
) throws -> (run: Run, enforcedBy: [String: String]) {
    ns.ownJournal()
    let env = "NETFAULT_STATE_DIR=\(ns.dir)/journal"
    // One JSON document a line: status pretty-prints it over several.
    // Its errors on lines of their own, for the failure message.
    let err = "\(ns.dir)/status.err"
    let sample =
        "env \(env) \(netfaultPath) status --json --netns \(ns.name) 2>\(err) | tr -d '\\n'; echo; sed 's/^/stderr: /' \(err)"
    let script = "i=0; while [ $i -lt 34 ]; do \(sample); sleep 0.5; i=$((i+1)); done"
    let r = try run(
        "/usr/bin/env",
        [env, netfaultPath, "run", "redis"] + fault + [
            "--every", "6s", "--on", "5s", "--for", "17s", "--netns", ns.name, "--", "/bin/sh", "-c", script,
        ])
    var enforcedBy: [String: String] = [:]
    for line in r.stdout.split(separator: "\n") {
        for lease in jsonObject(String(line))["leases"] as? [[String: Any]] ?? [] {
            if let id = lease["lease"] as? String { enforcedBy[id] = lease["deadline_enforced_by"] as? String ?? "?" }
        }
    }
    return (r, enforcedBy)
}

/// Expects each sampled on-period's lease to be enforced by the kernel, and more than one period seen.
func expectEveryPeriodKernelEnforced(
    _ ns: Namespace, _ fault: [String], sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let (r, enforcedBy) = try scheduledPeriodsEnforcement(ns, fault)
    #expect(r.status == 0, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    #expect(
        enforcedBy.count >= 2, "periods seen: \(enforcedBy); \(r.stderr)\nsamples:\n\(r.stdout)",
        sourceLocation: sourceLocation)
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
