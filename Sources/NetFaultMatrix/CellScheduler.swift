import FoundationEssentials
import Glibc
import NetFaultKernel

/// How a cell may share the machine with the cells running beside it (`--jobs N`).
public enum CellLane: Hashable, Sendable {
    /// Nothing else runs meanwhile: a baseline (its time is what the cells are compared with),
    /// or a kernel fault that takes every connection to the port, every other cell's too.
    case alone
    /// At most one cell of this name at a time; any others beside it. The proxy cells: each
    /// service has one proxy, and a cell's command talks to every service.
    case one(String)
    /// Beside any others: a kernel fault scoped to its own command's cgroup.
    case any
}

/// What the scheduler runs; its tests put a recording fake here.
public protocol CellWork: AnyObject {
    /// Runs cell `index`, on a thread of the scheduler's; returns when the cell has ended.
    func run(cell index: Int)
    /// Whether to start no more cells (those running end as they would).
    var stopped: Bool { get }
}

/// Runs cells up to `jobs` at a time, starting them in order: a cell may overtake one whose
/// lane is busy, never an `.alone` cell, which waits for those running and holds back the rest.
public struct CellScheduler {
    public let jobs: Int
    public init(jobs: Int) { self.jobs = max(1, jobs) }

    /// The cell to start now, of `pending` (in order), beside `running`; nil: wait for one to end.
    public static func next(pending: [Int], running: [Int], lanes: [CellLane], jobs: Int) -> Int? {
        guard running.count < jobs, !running.contains(where: { lanes[$0] == .alone }) else { return nil }
        for c in pending {
            switch lanes[c] {
            case .alone: return running.isEmpty ? c : nil
            case .any: return c
            case .one(let name): if !running.contains(where: { lanes[$0] == .one(name) }) { return c }
            }
        }
        return nil
    }

    /// Runs every cell of `lanes` through `work` (each on a thread of its own) and returns when
    /// all that started have ended.
    public func run(_ lanes: [CellLane], work: CellWork) throws {
        let state = Condition()
        var pending = Array(lanes.indices), running: [Int] = [], threads: [JoinableThread] = []
        var failure: Error?
        state.lock()
        while !pending.isEmpty && !work.stopped {
            guard let c = Self.next(pending: pending, running: running, lanes: lanes, jobs: jobs) else {
                // A cell's end broadcasts; the timeout only bounds how late a stop is seen.
                state.wait(untilMonotonic: MonotonicClock.nanoseconds() + 200_000_000)
                continue
            }
            pending.removeAll { $0 == c }
            running.append(c)
            do {
                threads.append(
                    try JoinableThread {
                        work.run(cell: c)
                        state.withLock { running.removeAll { $0 == c } }
                        state.broadcast()
                    })
            } catch {
                failure = error
                break
            }
        }
        state.unlock()
        threads.forEach { $0.join() }
        if let failure { throw failure }
    }
}
