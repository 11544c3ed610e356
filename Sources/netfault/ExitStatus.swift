import ArgumentParser
import Foundation
import NetFaultCore
import NetFaultKernel
import NetFaultWatchdog

/// Exit statuses (sysexits.h), one per kind of failure, documented in `netfault --help`.
enum ExitStatus {
    static let usage: Int32 = 64        // bad value or combination
    static let unavailable: Int32 = 69  // kernel lacks a needed feature
    static let osError: Int32 = 71      // the kernel refused a request
    static let cantCreate: Int32 = 73   // existing configuration netfault will not touch; state dir unusable
    static let noPermission: Int32 = 77 // not root / no CAP_NET_ADMIN
}

/// Maps every error the tool raises to its message and exit status; nothing reaches the user
/// as a trap or a stack trace.
func fail(_ error: Error) -> ExitCode {
    let (status, message) = diagnose(error)
    FileHandle.standardError.write(Data("netfault: error: \(message)\n".utf8))
    return ExitCode(status)
}

/// The exit status and message for an error netfault raises.
func diagnose(_ error: Error) -> (status: Int32, message: String) {
    switch error {
    case let e as InputError: (ExitStatus.usage, e.message)
    case let e as NamespaceError: (ExitStatus.usage, e.message)
    case let e as PermissionError: (ExitStatus.noPermission, e.message)
    case let e as PlanConflict: (ExitStatus.cantCreate, e.message)
    case let e as JournalError: (ExitStatus.cantCreate, e.message)
    case let e as DistributionTables.Missing: (ExitStatus.unavailable, e.description)
    case let e as KernelError where e.errno == EPERM || e.errno == EACCES:
        (ExitStatus.noPermission, "\(e.description)\nnetfault needs root or CAP_NET_ADMIN")
    case let e as KernelError: (ExitStatus.osError, e.description)
    case let e as Unavailable: (ExitStatus.unavailable, e.message)
    case let e as FeatureMissing: (ExitStatus.unavailable, "this kernel lacks what these faults need:\n  \(e)")
    case let e as NoPermission: (ExitStatus.noPermission, e.message)
    default: (ExitStatus.osError, "\(error)")
    }
}

struct Unavailable: Error { let message: String }
struct NoPermission: Error { let message: String }

/// Fails with 77 unless the process may change networking.
func requireNetAdmin() throws {
    guard Capabilities.hasNetAdmin() else {
        throw NoPermission(message: "netfault needs CAP_NET_ADMIN to change traffic control and nf_tables, and this process lacks it; run it as root (sudo), or give the container --cap-add NET_ADMIN")
    }
}

/// Runs `body`, turning any error into its message and exit status.
func reporting(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch {
        // A feature the probe found on this boot is gone (a module unloaded): probe it next time.
        if let missing = error as? FeatureMissing { ProbeCache.forget(missing.feature, in: Journal.defaultDirectory) }
        throw fail(error)
    }
}

/// The path of this executable, for starting the watchdog and the probe.
func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}
