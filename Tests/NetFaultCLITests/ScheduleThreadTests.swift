import Glibc
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import Testing

/// The thread that puts `run`'s and the matrix's scheduled faults in and out.
struct ScheduleThreadTests {
    /// What the periods saw, written on the schedule thread, read on the test's.
    final class Seen: @unchecked Sendable {
        private let lock = Condition()
        private var _periods: [(start: Duration, end: Duration, calledAfter: Int64)] = []
        private var _cutShort = false
        private var _errors = 0
        func add(_ start: Duration, _ end: Duration, calledAfter: Int64 = 0) {
            lock.withLock { _periods.append((start, end, calledAfter)) }
        }
        var periods: [(start: Duration, end: Duration, calledAfter: Int64)] { lock.withLock { _periods } }
        var cutShort: Bool {
            get { lock.withLock { _cutShort } }
            set { lock.withLock { _cutShort = newValue } }
        }
        var errors: Int { lock.withLock { _errors } }
        func error() { lock.withLock { _errors += 1 } }
    }

    let flapping = Schedule(after: .milliseconds(5), every: .milliseconds(30), on: .milliseconds(10))

    @Test("each on-period in order, with its start and end, none called before its start on the monotonic clock")
    func periodsInOrder() throws {
        let seen = Seen()
        let begun = MonotonicClock.nanoseconds()
        // Periods of 100 ms every 300 ms: a thread woken up to 200 ms late (a busy machine)
        // still meets each one. One woken later misses that period, as overrunMissesPeriods
        // shows; the periods it ran are still these, in order.
        let schedule = Schedule(after: .milliseconds(50), every: .milliseconds(300), on: .milliseconds(100))
        let periods = try ScheduleThread(schedule, limit: .milliseconds(1000)) { clock, start, end in
            seen.add(start, end, calledAfter: Int64(MonotonicClock.nanoseconds() - begun))
            return clock.sleep(until: end)
        }
        // Every period ran or missed, past the last one's end (finish must not cut it short); at
        // most 10 s, so that a schedule that loses a period fails here rather than hangs.
        while (seen.periods.count + periods.missed < 4 || Int64(MonotonicClock.nanoseconds() - begun) < 1_000_000_000)
            && Int64(MonotonicClock.nanoseconds() - begun) < 10_000_000_000
        {
            usleep(5_000)
        }
        try periods.finish()
        let expected = zip([50, 350, 650, 950], [150, 450, 750, 1000]).map {
            (start: Duration.milliseconds($0.0), end: Duration.milliseconds($0.1))
        }
        let got = seen.periods.map { (start: $0.start, end: $0.end) }
        let ran = expected.filter { e in got.contains { $0 == e } }
        #expect(got.count == ran.count && got.elementsEqual(ran, by: ==), "periods: \(got)")
        #expect(got.count + periods.missed == 4, "\(got.count) periods ran, \(periods.missed) missed")
        #expect(got.count >= 2, "periods: \(got)")
        for p in seen.periods {
            #expect(p.calledAfter >= p.start.nanoseconds, "period at \(p.start) began after \(p.calledAfter) ns")
        }
    }

    @Test("finish cuts the period in progress short and starts no other")
    func finishCutsShort() throws {
        let seen = Seen()
        let periods = try ScheduleThread(flapping, limit: .seconds(60)) { clock, start, end in
            seen.add(start, end)
            let stillRunning = clock.sleep(until: .seconds(50))  // far beyond: only finish wakes it
            seen.cutShort = !stillRunning
            return stillRunning
        }
        while seen.periods.isEmpty { usleep(1_000) }
        try periods.finish()
        #expect(seen.periods.count == 1 && seen.cutShort)
        #expect(!periods.sleep(until: .zero), "a finished schedule sleeps no more")
    }

    struct Broken: Error {}

    @Test("a period that throws ends the schedule: onError runs on the thread, finish throws the error")
    func errorEndsSchedule() throws {
        let seen = Seen()
        let periods = try ScheduleThread(flapping, limit: .seconds(60), onError: { seen.error() }) { _, start, end in
            seen.add(start, end)
            throw Broken()
        }
        while seen.errors == 0 { usleep(1_000) }
        #expect(throws: Broken.self) { try periods.finish() }
        #expect(seen.periods.count == 1 && seen.errors == 1)
    }

    @Test("a period that overruns: the periods it ran past are missed, the rest keep their places on the clock")
    func overrunMissesPeriods() throws {
        let seen = Seen()
        let begun = MonotonicClock.nanoseconds()
        let schedule = Schedule(after: .zero, every: .milliseconds(200), on: .milliseconds(100))
        let periods = try ScheduleThread(schedule, limit: .milliseconds(900)) { clock, start, end in
            seen.add(start, end, calledAfter: Int64(MonotonicClock.nanoseconds() - begun))
            // The first period's revert hangs (a stopped watchdog) past the next period's end.
            return clock.sleep(until: start == .zero ? .milliseconds(320) : end)
        }
        while Int64(MonotonicClock.nanoseconds() - begun) < 900_000_000 { usleep(10_000) }
        try periods.finish()
        #expect(periods.missed == 1)
        #expect(seen.periods.map(\.start) == [0, 400, 600, 800].map { Duration.milliseconds($0) })
        for p in seen.periods {
            #expect(p.calledAfter >= p.start.nanoseconds, "period at \(p.start) began after \(p.calledAfter) ns")
        }
    }
}
