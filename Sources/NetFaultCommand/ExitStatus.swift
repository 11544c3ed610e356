import ArgumentParser
import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel
import NetFaultLeases

// What every netfault program (netfault, netfault-serve) shares at its edge: errors to exit
// statuses and messages, the capability check, and where its own executable is.

/// Maps every error the tool raises to its message and exit status; nothing reaches the user
/// as a trap or a stack trace.
public func fail(_ error: Error) -> ExitCode {
    let (status, message) = diagnose(error)
    writeStandardError("netfault: error: \(message)\n")
    return ExitCode(status)
}

/// The exit status and message for an error netfault raises: each says its own.
public func diagnose(_ error: Error) -> (status: Int32, message: String) {
    switch error {
    case let e as KernelError where e.exitStatus == ExitStatus.noPermission:
        (e.exitStatus, "\(e.description)\nnetfault needs root or CAP_NET_ADMIN")
    case let e as NetfaultError: (e.exitStatus, e.description)
    default: (ExitStatus.osError, "\(error)")
    }
}

/// Fails with 77 unless the process may change networking.
public func requireNetAdmin() throws {
    guard Capabilities.hasNetAdmin() else {
        throw PermissionError(
            """
            netfault needs CAP_NET_ADMIN to change traffic control and nf_tables, and this process lacks it; run it \
            as root (sudo), or give the container --cap-add NET_ADMIN
            """
        )
    }
}

/// Runs `body`, turning any error into its message and exit status.
/// `body` with its errors reported; a command that ends soon lets its netfilter sockets close
/// after it exits (NetfilterCloses), a long-lived one (`run`) closes them as it goes.
public func reporting(endsSoon: Bool = true, _ body: () throws -> Void) throws {
    if endsSoon { NetfilterCloses.deferUntilExit() }
    do { try body() } catch let e as ExitCode { throw e } catch {
        // A feature the probe found on this boot is gone (a module unloaded): probe it next time.
        if let missing = error as? FeatureMissing { ProbeCache.forget(missing.feature, in: Journal.defaultDirectory) }
        throw fail(error)
    }
}

/// The path of this executable, for starting the watchdog and the probe.
public func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// The program `name` installed beside this one (netfault and netfault-serve run each other).
public func siblingExecutable(_ name: String) -> String {
    let directory = selfExecutable().split(separator: "/", omittingEmptySubsequences: false).dropLast()
    return directory.joined(separator: "/") + "/" + name
}

/// A line on stderr that is not an error: "netfault: ...".
public func note(_ s: String) { writeStandardError("netfault: \(s)\n") }
