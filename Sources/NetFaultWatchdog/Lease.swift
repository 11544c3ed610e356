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

    public init(id: String, target: Target, direction: Direction, netem: NetemSpec, device: String,
                plan: LeasePlan, created: Date, deadline: Date, watchdogPID: Int32? = nil) {
        self.id = id; self.target = target; self.direction = direction; self.netem = netem
        self.device = device; self.plan = plan; self.created = created; self.deadline = deadline
        self.watchdogPID = watchdogPID
    }

    public static func newID() -> String {
        "nf-" + String(format: "%06x", UInt32.random(in: 0..<0x100_0000))
    }

    public func timeLeft(now: Date = Date()) -> TimeInterval { max(0, deadline.timeIntervalSince(now)) }
}
