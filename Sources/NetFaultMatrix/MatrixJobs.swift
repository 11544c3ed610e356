import FoundationEssentials
import NetFaultCore
import NetFaultKernel
import NetFaultMatrixReport

extension MatrixRunner {
    /// How a cell shares the machine under `--jobs` (one job: every cell alone, in order), and
    /// what its report says about it. A kernel fault runs beside others only when it can be
    /// scoped to its own command; a proxy cell always can, through proxies of its own. A fault on
    /// a schedule runs alone with either backend: what it meets depends on when the command's
    /// requests fall in its periods, which a cell beside it moves (with two jobs the example's
    /// redis/blackout/proxy passed in two runs out of two, with one job it failed in two of two).
    func lane(_ plan: CellPlan) -> (lane: CellLane, note: String?) {
        let jobs = environment.jobs
        guard jobs > 1, let fault = plan.fault, let service = plan.service,
            let request = try? FaultWords.request(fault, service: service, duration: .seconds(60)),
            skipReason(request) == nil
        else { return (.alone, nil) }
        if !fault.schedule.fromStart {
            return (
                .alone,
                "ran alone, not beside other cells (--jobs \(jobs)): its fault goes in and out while the command "
                    + "runs (after:, every:), so what it meets depends on the command's timing, which a cell beside "
                    + "it would change" + (plan.backend == .kernel ? "; nor could it be scoped to the command" : "")
            )
        }
        if plan.backend == .proxy {
            return (
                .any, "ran beside other cells (--jobs \(jobs)), through proxies of its own on ports the kernel chose"
            )
        }
        if let why = environment.unscopable ?? Self.unscopable(request) {
            return (.alone, "ran alone, not beside other cells (--jobs \(jobs)): \(why)")
        }
        return (
            .any,
            "ran beside other cells (--jobs \(jobs)): its fault took only its own command's connections "
                + "(a cgroup v2 of its own, as run --scope command makes)"
        )
    }

    /// Why this fault cannot be scoped to one command, whatever the kernel (a fault on a schedule
    /// runs alone before this is asked: a scoped lease would also miss the connections its
    /// command opened before it went in).
    static func unscopable(_ r: FaultRequest) -> String? {
        r.filter.mix != nil ? "a mix of connection faults cannot be scoped to one command yet" : nil
    }
}

/// The runner's cells as the scheduler's work: results by index, the first error stops the rest.
final class MatrixWork: CellWork {
    let runner: MatrixRunner
    let plans: [CellPlan]
    let lanes: [(lane: CellLane, note: String?)]
    let progress: (CellResult, Int, Int) -> Void
    private let lock = Condition()
    private(set) var results: [CellResult?]
    private(set) var failure: Error?
    private var done = 0

    init(runner: MatrixRunner, plans: [CellPlan], progress: @escaping (CellResult, Int, Int) -> Void) {
        self.runner = runner; self.plans = plans; self.progress = progress
        lanes = plans.map(runner.lane)
        results = Array(repeating: nil, count: plans.count)
    }

    func run(cell i: Int) {
        do {
            var result = try runner.run(plans[i], scopedCell: lanes[i].lane == .any ? i : nil)
            if let note = lanes[i].note, result.state != .skipped { result.notes.append(note) }
            lock.withLock {
                results[i] = result
                done += 1
                progress(result, done, plans.count)
            }
        } catch {
            lock.withLock { if failure == nil { failure = error } }
        }
    }

    var stopped: Bool { runner.stopped || lock.withLock { failure != nil } }
}
