import FoundationEssentials
import Glibc

/// When `netfault run` puts its faults in force: from the start, after a delay, or flapping
/// (on for `on` out of every `every`) for transient blackouts.
public struct Schedule: Equatable, Sendable {
    public let after: Duration
    public let every: Duration?
    public let on: Duration?

    public static let always = Schedule(after: .zero, every: nil, on: nil)

    public init(after: Duration, every: Duration?, on: Duration?) {
        self.after = after; self.every = every; self.on = on
    }

    public static func parse(after: String?, every: String?, on: String?) throws -> Schedule {
        let a = try after.map { try Duration.parse($0, what: "--after") } ?? .zero
        let e = try every.map { try Duration.parse($0, what: "--every") }
        let o = try on.map { try Duration.parse($0, what: "--on") }
        switch (e, o) {
        case (nil, nil): break
        case (nil, _):
            throw InputError(
                "--on needs --every: the fault is on for --on out of every --every (e.g. --every 10s --on 2s)")
        case (_, nil):
            throw InputError("--every needs --on: how long the fault is on in each period (e.g. --every 10s --on 2s)")
        case let (e?, o?):
            guard o < e else {
                throw InputError("--on \(o) must be shorter than --every \(e), or the fault never turns off")
            }
            try checkKeepable(every: e, on: o)
        }
        return Schedule(after: a, every: e, on: o)
    }

    /// The shortest on-period, and the shortest gap between two, that a schedule keeps: each
    /// on-period is a lease of its own (a watchdog started, the faults put in, counted and taken
    /// out), which takes tens of milliseconds on an idle machine. Shorter periods would run late
    /// and be cut short or missed, so they are refused.
    public static let shortestPeriod = Duration.milliseconds(100)

    static func checkKeepable(every: Duration, on: Duration) throws {
        let least = shortestPeriod
        guard on >= least else {
            throw InputError(
                "--on \(on) is shorter than \(least), the shortest on-period netfault can keep "
                    + "(each is a lease of its own)")
        }
        let off = Duration(nanoseconds: every.nanoseconds - on.nanoseconds)
        guard off >= least else {
            throw InputError(
                "--every \(every) with --on \(on) leaves \(off) between on-periods; the least netfault can keep "
                    + "is \(least): make --every at least \(Duration(nanoseconds: on.nanoseconds + least.nanoseconds))")
        }
    }

    /// Refuses a schedule under which the faults could never go in before `limit` (--for), or
    /// only for less than the shortest lease (1ms).
    public func validate(within limit: Duration) throws {
        guard windows(until: limit).contains(where: { $0.end.nanoseconds - $0.start.nanoseconds >= 1_000_000 }) else {
            throw InputError(
                """
                --after \(after) with --for \(limit): the faults would go in only when the lease ends; make --for \
                longer than --after
                """)
        }
    }

    /// Whether the faults go in before the command starts (no delay, no flapping).
    public var fromStart: Bool { after == .zero && every == nil }

    /// The on-periods as offsets from the command's start, until `limit`.
    public func windows(until limit: Duration) -> [(start: Duration, end: Duration)] {
        guard let every, let on else {
            return after < limit ? [(after, limit)] : []
        }
        var out: [(Duration, Duration)] = []
        var t = after.nanoseconds
        while t < limit.nanoseconds && out.count < 100_000 {
            out.append((Duration(nanoseconds: t), Duration(nanoseconds: min(t + on.nanoseconds, limit.nanoseconds))))
            t += every.nanoseconds
        }
        return out
    }
}
