import FoundationEssentials
import Glibc

/// Exit statuses (sysexits.h), one per kind of failure, documented in `netfault --help`.
public enum ExitStatus {
    /// A bad value or combination; nothing was changed.
    public static let usage: Int32 = 64
    /// --cgroup names no cgroup v2 here.
    public static let noInput: Int32 = 66
    /// --uid names no user here.
    public static let noUser: Int32 = 67
    /// The kernel lacks a needed feature.
    public static let unavailable: Int32 = 69
    /// The kernel refused a request, or the system failed (a fork, a pipe, a process).
    public static let osError: Int32 = 71
    /// A configuration netfault will not touch, or a state directory it cannot use.
    public static let cantCreate: Int32 = 73
    /// A missing capability.
    public static let noPermission: Int32 = 77
}

/// Every error netfault reports: a message for the user and the exit status it ends with.
public protocol NetfaultError: Error, CustomStringConvertible {
    var exitStatus: Int32 { get }
}

/// A problem with what the user asked for. Always reported before anything touches the kernel.
public struct InputError: NetfaultError, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: Int32 { ExitStatus.usage }
}

/// Why a plan cannot be made on this machine as it is (not a mistake in the input).
public struct PlanConflict: NetfaultError, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: Int32 { ExitStatus.cantCreate }
}

/// A process netfault needs could not be made or did not do its part: the watchdog, its
/// pipe, the command of `netfault run`. Not bad input, not the journal.
public struct ProcessError: NetfaultError, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: Int32 { ExitStatus.osError }
}

/// The kernel lacks what the faults need (named by the probe).
public struct Unavailable: NetfaultError, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: Int32 { ExitStatus.unavailable }
}
