import FoundationEssentials
import Glibc
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import Testing

@testable import NetFaultMatrix

/// netfault matrix --jobs: which cells the scheduler starts together, with a recording fake for
/// the cells (the real cells run in the matrix stage, make matrix-test).
@Suite struct CellSchedulerTests {
    let lanes: [CellLane] = [.alone, .alone, .any, .one("proxy"), .any, .one("proxy"), .alone, .any]

    @Test("the next cell: in order, overtaking only a busy lane, never an .alone cell, at most `jobs`")
    func nextCell() {
        func next(_ pending: [Int], _ running: [Int], jobs: Int = 2) -> Int? {
            CellScheduler.next(pending: pending, running: running, lanes: lanes, jobs: jobs)
        }
        #expect(next(Array(0...7), []) == 0)
        #expect(next(Array(1...7), [0]) == nil)  // an .alone cell runs by itself
        #expect(next(Array(2...7), []) == 2)
        #expect(next(Array(3...7), [2]) == 3)  // a proxy cell beside a kernel cell
        #expect(next(Array(4...7), [2, 3]) == nil)  // two jobs
        #expect(next(Array(4...7), [2, 3], jobs: 3) == 4)
        #expect(next([5, 6, 7], [3]) == nil)  // 5's lane is busy; 6 (alone) holds 7 back
        #expect(next([5, 6, 7], [4]) == 5)
        #expect(next([6, 7], [5]) == nil)
        #expect(next([6, 7], []) == 6)
        #expect(next(Array(2...7), [], jobs: 1) == 2)
        #expect(next(Array(3...7), [2], jobs: 1) == nil)
    }

    @Test("two jobs: the .any cells meet, .alone cells overlap nothing, proxy cells never overlap each other")
    func twoJobs() throws {
        let fake = RecordingCells(lanes: lanes, meet: [2, 4])
        try CellScheduler(jobs: 2).run(lanes, work: fake)
        let log = fake.log
        #expect(fake.violations == [])
        #expect(fake.met, "cells 2 and 4 (both .any) did not run at the same time")
        #expect(log.filter { $0.start }.map(\.cell).sorted() == Array(0...7))
        #expect(fake.peak == 2)
    }

    @Test("one job: every cell alone, in the plans' order")
    func oneJob() throws {
        let fake = RecordingCells(lanes: lanes, meet: [])
        try CellScheduler(jobs: 1).run(lanes, work: fake)
        #expect(fake.log.map(\.cell) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7])
        #expect(fake.peak == 1 && fake.violations == [])
    }

    @Test("a stop starts no more cells and lets those running end")
    func stop() throws {
        let fake = RecordingCells(lanes: lanes, meet: [], stopAfter: 2)  // after the two baselines
        try CellScheduler(jobs: 2).run(lanes, work: fake)
        let started = Set(fake.log.filter(\.start).map(\.cell))
        let ended = Set(fake.log.filter { !$0.start }.map(\.cell))
        #expect(started == [0, 1] && ended == [0, 1])
    }

    @Test("lanes: with --jobs 2 a kernel cell runs beside others where it can be scoped, else alone, saying why")
    func lanesOfTheExample() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/ichnaea/matrix.yaml").path
        let scenario = try Scenario.load(path: path)
        func lanes(jobs: Int, unscopable: String?) -> [String: (lane: CellLane, note: String?)] {
            let env = MatrixEnvironment(
                identity: CommandIdentity(uid: 0, gid: 0, groups: [], environment: [:], drop: false),
                netfaultExecutable: nil, kernel: "k", hasNetem: true, hasNFTables: true, rerunPrefix: "",
                jobs: jobs, unscopable: unscopable)
            let runner = MatrixRunner(scenario: scenario, environment: env)
            return Dictionary(uniqueKeysWithValues: scenario.cells.map { ($0.id, runner.lane($0)) })
        }
        let two = lanes(jobs: 2, unscopable: nil)
        #expect(two["baseline/kernel"]?.lane == .alone && two["baseline/proxy"]?.lane == .alone)
        #expect(two["mysql/blackhole/kernel"]?.lane == .any && two["redis/reset-30pct/kernel"]?.lane == .any)
        #expect(two["redis/hang/proxy"]?.lane == .any && two["mysql/limit-data/proxy"]?.lane == .any)
        // A fault on a schedule meets what the command's timing puts in its periods: alone, with
        // either backend (and a scoped lease would miss the connections opened before it).
        for id in ["redis/blackout/kernel", "redis/blackout/proxy", "mysql/blackout/proxy"] {
            #expect(two[id]?.lane == .alone, "\(id)")
            #expect(two[id]?.note?.contains("while the command runs") == true, "\(id)")
        }
        #expect(two["redis/blackout/kernel"]?.note?.hasSuffix("nor could it be scoped to the command") == true)
        let uml = lanes(jobs: 2, unscopable: "no nf_tables here")
        #expect(uml["mysql/delay-10ms/kernel"]?.lane == .alone)
        #expect(uml["mysql/delay-10ms/kernel"]?.note?.hasSuffix("no nf_tables here") == true)
        #expect(lanes(jobs: 1, unscopable: nil).values.allSatisfy { $0.lane == .alone && $0.note == nil })
    }
}

/// Records each cell's start and end, and what overlapped; the cells in `meet` wait for each
/// other (up to 20 s) so that running them together is proven without timing.
final class RecordingCells: CellWork {
    struct Event: Equatable { let cell: Int; let start: Bool }
    let lanes: [CellLane]
    let meet: Set<Int>
    let stopAfter: Int?
    private let lock = Condition()
    private var running: Set<Int> = []
    private var arrived: Set<Int> = []
    private(set) var log: [Event] = []
    private(set) var violations: [String] = []
    private(set) var peak = 0
    private(set) var met = false

    init(lanes: [CellLane], meet: Set<Int>, stopAfter: Int? = nil) {
        self.lanes = lanes; self.meet = meet; self.stopAfter = stopAfter
    }

    var stopped: Bool { lock.withLock { stopAfter.map { n in log.filter(\.start).count >= n } ?? false } }

    func run(cell c: Int) {
        lock.withLock {
            for r in running where lanes[c] == .alone || lanes[r] == .alone || lanes[c] == lanes[r] && lanes[c] != .any {
                violations.append("\(c) started beside \(r)")
            }
            running.insert(c)
            peak = max(peak, running.count)
            log.append(Event(cell: c, start: true))
            if meet.contains(c) { arrived.insert(c) }
        }
        lock.broadcast()
        if meet.contains(c) {
            let deadline = MonotonicClock.nanoseconds() + 20_000_000_000
            lock.withLock {
                while arrived != meet && MonotonicClock.nanoseconds() < deadline {
                    lock.wait(untilMonotonic: deadline)
                }
                if arrived == meet { met = true }
            }
        }
        lock.withLock {
            running.remove(c)
            log.append(Event(cell: c, start: false))
        }
    }
}
