import Foundation
import TestSupport
import Testing

/// `netfault run FAULT --every 4s --on 3s --for 11s` in `ns`, whose command samples
/// `status --json` every half second: the run, and `deadline_enforced_by` of every lease the
/// samples saw, by lease id (each on-period is a lease of its own).
func scheduledPeriodsEnforcement(_ ns: Namespace, _ fault: [String]) throws -> (run: Run, enforcedBy: [String: String]) {
    ns.ownJournal()
    let env = "NETFAULT_STATE_DIR=\(ns.dir)/journal"
    // One JSON document a line: status pretty-prints it over several.
    let sample = "env \(env) \(netfaultPath) status --json --netns \(ns.name) | tr -d '\\n'; echo"
    let script = "i=0; while [ $i -lt 20 ]; do \(sample); sleep 0.5; i=$((i+1)); done"
    let r = try run(
        "/usr/bin/env",
        [env, netfaultPath, "run", "redis"] + fault + [
            "--every", "4s", "--on", "3s", "--for", "11s", "--netns", ns.name, "--", "/bin/sh", "-c", script,
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
    @Test("run --reject --every 4s --on 3s: every period's lease is enforced by the kernel")
    func rejectPeriodsKernelEnforced() throws {
        try withServers(mariadb: false) { ns in
            try expectEveryPeriodKernelEnforced(ns, ["--reject"])
            try ns.expectBaseline()
        }
    }
}
