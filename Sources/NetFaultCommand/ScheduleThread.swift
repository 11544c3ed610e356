import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

/// Puts faults in and out on a schedule's on-periods, from a thread of its own, while the caller
/// runs a command: `netfault run --after/--every/--on` and the matrix's scheduled cells. Times
/// count from the start on CLOCK_MONOTONIC, so a wall clock stepped by `date -s` or NTP moves no
/// period (nf_tables expires a lease's set elements on the same clock).
public final class ScheduleThread: @unchecked Sendable {
    private let lock = Condition()
    private var stopped = false
    private var failure: Error?
    private let started = MonotonicClock.nanoseconds()
    private var thread: JoinableThread?
    private var missedPeriods = 0

    /// Starts the thread. For each on-period of `schedule` within `limit` it sleeps until the
    /// period's start, then calls `period` with the period's start and end (offsets from now),
    /// which returns false once the schedule was stopped. An error thrown by `period` ends the
    /// schedule: `onError` runs on the thread at once, and `finish` throws the error.
    public init(
        _ schedule: Schedule, limit: Duration, onError: @escaping () -> Void = {},
        period: @escaping (ScheduleThread, _ start: Duration, _ end: Duration) throws -> Bool
    ) throws {
        let windows = schedule.windows(until: limit)
        thread = try JoinableThread { [self] in
            for window in windows {
                guard sleep(until: window.start) else { return }
                // A period that overran (its revert waited on a stopped watchdog) may end after a
                // later one's end: that one is missed, not run late; the rest keep their places.
                if elapsed >= window.end {
                    lock.withLock { missedPeriods += 1 }
                    continue
                }
                do {
                    guard try period(self, window.start, window.end) else { return }
                } catch {
                    lock.withLock { failure = error }
                    onError()
                    return
                }
            }
        }
    }

    /// Time since the start, on CLOCK_MONOTONIC.
    public var elapsed: Duration { Duration(nanoseconds: Int64(MonotonicClock.nanoseconds() - started)) }

    /// On-periods skipped because an earlier one ran past their end.
    public var missed: Int { lock.withLock { missedPeriods } }

    /// Sleeps until `offset` after the start; false when the schedule was stopped first.
    public func sleep(until offset: Duration) -> Bool {
        let deadline = started + UInt64(max(offset.nanoseconds, 0))
        lock.lock()
        defer { lock.unlock() }
        while !stopped && MonotonicClock.nanoseconds() < deadline { lock.wait(untilMonotonic: deadline) }
        return !stopped
    }

    /// Stops the schedule (a period in progress is cut short), waits for the thread, and throws
    /// what failed on it.
    public func finish() throws {
        lock.withLock {
            stopped = true
            lock.broadcast()
        }
        thread?.join()
        thread = nil
        if let failure = lock.withLock({ failure }) { throw failure }
    }
}
