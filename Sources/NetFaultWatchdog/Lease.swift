import Foundation
import NetFaultCore

/// One lease as the journal records it: written before the kernel is changed, so a revert
/// always knows what to look for.
public struct Lease: Codable, Sendable, Equatable {
    public let id: String
    public let target: Target
    public let direction: Direction
    public let netem: NetemSpec
    public let device: String
    public let plan: LeasePlan
    public let created: Date
    public let deadline: Date
    public var watchdogPID: Int32?
    /// The process whose life bounds the lease (`netfault run`): when it dies, the watchdog reverts.
    public var controller: ProcessIdentity?

    public init(id: String, target: Target, direction: Direction, netem: NetemSpec, device: String,
                plan: LeasePlan, created: Date, deadline: Date, watchdogPID: Int32? = nil,
                controller: ProcessIdentity? = nil) {
        self.id = id; self.target = target; self.direction = direction; self.netem = netem
        self.device = device; self.plan = plan; self.created = created; self.deadline = deadline
        self.watchdogPID = watchdogPID
        self.controller = controller
    }

    public static func newID() -> String {
        "nf-" + String(format: "%06x", UInt32.random(in: 0..<0x100_0000))
    }

    public func timeLeft(now: Date = Date()) -> TimeInterval { max(0, deadline.timeIntervalSince(now)) }
}

/// A process, told apart from a later one that reuses its pid by its start time.
public struct ProcessIdentity: Codable, Sendable, Equatable {
    public let pid: Int32
    public let startTime: UInt64

    /// Field 22 of /proc/PID/stat (clock ticks since boot), read after the command name,
    /// which may itself hold spaces or parentheses.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
              let text = String(data: data, encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    public static func current() -> ProcessIdentity? {
        let pid = getpid()
        return startTime(of: pid).map { ProcessIdentity(pid: pid, startTime: $0) }
    }

    public var isAlive: Bool { Self.startTime(of: pid) == startTime }
}
