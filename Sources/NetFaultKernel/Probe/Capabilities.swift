import FoundationEssentials
import Glibc
import NetFaultCore

/// What this process may do: its effective capabilities and whether a seccomp filter confines
/// it, from /proc/self/status, so a refusal can be blamed on the right thing.
public enum Capabilities {
    public enum Capability: Int, Sendable {
        case netAdmin = 12
        case sysAdmin = 21
    }

    static func statusField(_ name: String) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") })
        else { return nil }
        return line.dropFirst(name.count + 1).trimmed
    }

    /// Whether this process holds `cap` in its effective set.
    public static func has(_ cap: Capability) -> Bool {
        guard let hex = statusField("CapEff"), let mask = UInt64(hex, radix: 16) else { return false }
        return mask & (1 << UInt64(cap.rawValue)) != 0
    }

    public static func hasNetAdmin() -> Bool { has(.netAdmin) }

    /// Whether a seccomp filter confines this process (mode 2), as Docker's default profile does.
    public static var seccompFiltered: Bool { statusField("Seccomp") == "2" }
}

/// The process lacks a privilege an operation needs; the message names it and what grants it.
public struct PermissionError: NetfaultError, Sendable {
    public let message: String
    /// The short cause ("this process lacks CAP_SYS_ADMIN"), for a listing that goes on.
    public let reason: String
    public init(_ message: String, reason: String? = nil) { self.message = message; self.reason = reason ?? message }
    public var description: String { message }
    public var exitStatus: Int32 { ExitStatus.noPermission }
}
