import Foundation
import NetFaultCore
@testable import NetFaultKernel
import NetFaultLeases
import Testing
@testable import netfault
import NetFaultCommand

/// Every error says its own exit status; `diagnose` only reads it.
struct ExitStatusTests {
    @Test("each kind of error ends with its status and its own message")
    func statuses() {
        let cases: [(Error, Int32)] = [
            (InputError("bad"), 64),
            (NamespaceError("no such namespace"), 64),
            (Unavailable("no netem"), 69),
            (FeatureMissing(feature: .netem, underlying: KernelError(operation: "adding", errno: ENOENT)), 69),
            (DistributionTables.Missing(name: "normal"), 69),
            (KernelError(operation: "adding", errno: EINVAL), 71),
            (ProcessError("cannot start the watchdog"), 71),
            (DumpInterrupted(operation: "listing"), 71),
            (PlanConflict("in use"), 73),
            (JournalError("state dir"), 73),
            (ClaimTaken(name: "netfault/band/lo/2"), 73),
            (PermissionError("needs CAP_NET_ADMIN"), 77),
            (KernelError(operation: "adding", errno: EPERM), 77)
        ]
        for (error, status) in cases {
            let d = diagnose(error)
            #expect(d.status == status, "\(error)")
            #expect(d.message.contains("\(error)"), "\(d.message)")
        }
    }

    @Test("a libnl or netfault EPERM is not a missing capability; a kernel one says what netfault needs")
    func permissionSource() {
        #expect(diagnose(KernelError(operation: "x", errno: EPERM, source: .netfault)).status == 71)
        #expect(diagnose(KernelError(operation: "x", errno: EPERM)).message.contains("needs root or CAP_NET_ADMIN"))
    }
}
