import FoundationEssentials
import Glibc
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import NetFaultMatrixReport
import NetFaultLeases

/// A cell to run: a baseline of one backend, or a fault on a service through one backend.
public struct CellPlan: Sendable {
    public let service: Scenario.Service?
    public let fault: Scenario.Fault?
    public let backend: Scenario.Backend

    public var id: String {
        guard let service, let fault else { return "baseline/\(backend.rawValue)" }
        return "\(service.name)/\(fault.name)/\(backend.rawValue)"
    }
}

extension Scenario {
    /// Every cell in run order: the baselines first, then each fault on each service, kernel
    /// before proxy (so the two cells of a row run side by side).
    public var cells: [CellPlan] {
        backends.map { CellPlan(service: nil, fault: nil, backend: $0) }
            + faults.flatMap { f in
                services.filter { f.services.contains($0.name) }.flatMap { s in
                    backends.map { CellPlan(service: s, fault: f, backend: $0) }
                }
            }
    }

    /// The cells `--only` selects (ids, with `*` for any one part: "redis/*/kernel"), plus the
    /// baseline of each backend they use. Unknown patterns are an error that lists the ids.
    public func cells(only patterns: [String]) throws -> [CellPlan] {
        guard !patterns.isEmpty else { return cells }
        let all = cells
        func matches(_ id: String, _ pattern: String) -> Bool {
            let a = id.split(separator: "/"), p = pattern.split(separator: "/")
            return a.count == p.count && zip(a, p).allSatisfy { $1 == "*" || $0 == $1 }
        }
        for p in patterns where !all.contains(where: { matches($0.id, p) }) {
            throw InputError(
                "--only \(p) names no cell; the cells are:\n" + all.map { "  \($0.id)" }.joined(separator: "\n"))
        }
        let chosen = all.filter { c in patterns.contains { matches(c.id, $0) } }
        let backends = Set(chosen.map(\.backend))
        return all.filter { c in
            (c.fault == nil && backends.contains(c.backend)) || chosen.contains { $0.id == c.id }
        }
    }
}

/// What the runner needs from the machine it runs on; the command line fills it in.
public struct MatrixEnvironment {
    public let identity: CommandIdentity
    /// `netfault`, whose `watchdog` command every lease's watchdog runs (kernel backend).
    public let netfaultExecutable: String?
    /// The kernel's name for the report: `uname -r`, and "(user-mode Linux)" there.
    public let kernel: String
    /// The kernel features probed (by `netfault doctor`'s names): which cells can run here.
    public let hasNetem: Bool
    public let hasNFTables: Bool
    /// How to run one cell again, e.g. "netfault matrix examples/ichnaea/matrix.yaml".
    public let rerunPrefix: String
    /// `--jobs`: how many cells run at once.
    public let jobs: Int
    /// Why a kernel cell's fault cannot be scoped to its own command here (nil: it can), so that
    /// under --jobs such cells run alone.
    public let unscopable: String?

    public init(
        identity: CommandIdentity, netfaultExecutable: String?, kernel: String, hasNetem: Bool, hasNFTables: Bool,
        rerunPrefix: String, jobs: Int = 1, unscopable: String? = "one job at a time"
    ) {
        self.identity = identity; self.netfaultExecutable = netfaultExecutable; self.kernel = kernel
        self.hasNetem = hasNetem; self.hasNFTables = hasNFTables; self.rerunPrefix = rerunPrefix
        self.jobs = max(1, jobs); self.unscopable = unscopable
    }
}

public final class MatrixRunner {
    let scenario: Scenario
    let environment: MatrixEnvironment
    let stop = StopFlag()
    private var proxySet: Proxies?
    private var manager: LeaseManager?
    /// Written by the baselines, which run alone before any fault cell starts.
    private var baselines: [Scenario.Backend: Double] = [:]
    /// Whether this run has kernel cells: only then must a row's cells all run on one kernel.
    private var kernelInRun = false

    public init(scenario: Scenario, environment: MatrixEnvironment) {
        self.scenario = scenario; self.environment = environment
    }

    /// Stops after the cell in progress (which is interrupted); its fault is taken out.
    public func requestStop() { stop.stop() }
    public var stopped: Bool { stop.isSet }

    /// Runs `plans`, up to `jobs` at a time (see `lane`), calling `progress` after each ends (with
    /// how many have); the results in the plans' order.
    public func run(_ plans: [CellPlan], progress: @escaping (CellResult, Int, Int) -> Void) throws -> [CellResult] {
        defer { proxySet?.shutdown(); proxySet = nil }
        kernelInRun = plans.contains { $0.backend == .kernel && $0.fault != nil }
        // The proxies listen before any cell runs: a listen address that is taken ends the
        // matrix at once (69, naming it), not after the kernel cells.
        if plans.contains(where: { $0.backend == .proxy }) { _ = try proxies() }
        let work = MatrixWork(runner: self, plans: plans, progress: progress)
        try CellScheduler(jobs: environment.jobs).run(work.lanes.map(\.lane), work: work)
        if let failure = work.failure { throw failure }
        return work.results.compactMap { $0 }
    }

    /// `scopedCell`: the cell runs beside others, kept apart by a CellIsolation: the kernel
    /// backend's fault takes only the connections of its command, which runs in a cgroup of its
    /// own (netfault-run-PID-CELL); the proxy backend's command talks to proxies of its own.
    func run(_ plan: CellPlan, scopedCell: Int? = nil) throws -> CellResult {
        var cell = CellResult(
            id: plan.id, service: plan.service?.name, fault: plan.fault?.name, backend: plan.backend.rawValue,
            faultWords: plan.fault?.words ?? [], schedule: plan.fault?.scheduleText, state: .skipped, reason: nil,
            outcome: "skipped", exitStatus: nil, seconds: nil, baselineSeconds: baselines[plan.backend],
            outputTail: "", packetsMatched: nil, notes: [], connections: [], recovery: nil,
            kernel: environment.kernel, randomness: "no fault", metrics: [:], expectedGrowthSeconds: nil,
            rerun: "\(environment.rerunPrefix) --only \(plan.id)")
        guard let service = plan.service, let fault = plan.fault else {
            return try baseline(plan.backend, cell)
        }
        let timeout = fault.timeout ?? scenario.timeout
        // The lease outlives the run by a margin (within the longest lease): it is
        // reverted when the run ends, and its watchdog reverts it if this process cannot.
        let plain = try FaultWords.request(
            fault, service: service,
            duration: Duration(
                nanoseconds: min(timeout.nanoseconds + 60_000_000_000, LeaseLimits.maximumDuration.nanoseconds)))
        cell.randomness = Self.randomness(plain, backend: plan.backend)
        if let skip = skipReason(plain) {
            cell.reason = skip
            return cell
        }
        guard baselines[plan.backend] != nil else {
            cell.reason = "its backend's baseline did not pass, so there is nothing to compare it with"
            return cell
        }
        let apart = try scopedCell.map { try isolation(plan.backend, cell: $0) }
        defer { apart?.end() }
        // Its revert (by its watchdog, if this process is killed) also ends the cell's command.
        let request = apart?.cgroup.map { plain.scoped(.cgroup($0.scope)) } ?? plain
        let proxy = apart?.proxies?.names[service.name] ?? service.name
        guard let faultObject = try faultObject(plan.backend, request, service: proxy, cell: &cell) else {
            return cell
        }
        let run: CommandRun
        do {
            run = try withFault(faultObject, schedule: fault.schedule, limit: timeout) {
                try command(scenario.command, backend: plan.backend, timeout: timeout, apart: apart)
            }
        } catch {
            cell.state = .error
            cell.reason = "\(error)"
            cell.outcome = "error: \(error)"
            return cell
        }
        record(run, into: &cell, service: service.name)
        cell.packetsMatched = faultObject.packetsMatched
        if let delay = request.netem.delay, let trips = run.metrics["round_trips.\(service.name)"] {
            cell.expectedGrowthSeconds = trips * delay.seconds * (request.direction == .both ? 2 : 1)
        }
        if !stop.isSet { cell.recovery = try recovery(fault, backend: plan.backend, timeout: timeout, apart: apart) }
        return cell
    }

    /// The recovery check: the command (or the fault's `recover`) once more, the fault out.
    func recovery(
        _ fault: Scenario.Fault, backend: Scenario.Backend, timeout: Duration, apart: CellIsolation?
    ) throws -> Recovery {
        let argv = fault.recover ?? scenario.recover ?? scenario.command
        // Through the cell's own proxies, if any, but outside its cgroup: that went with the fault.
        let again = try command(
            argv, backend: backend, timeout: timeout, apart: apart.map { CellIsolation(proxies: $0.proxies) })
        return Recovery(
            command: argv == scenario.command ? "the command again" : argv.joined(separator: " "),
            passed: again.passed, exitStatus: again.exitStatus, seconds: again.seconds,
            outputTail: again.passed ? "" : again.outputTail)
    }

    /// What keeps cell `cell` apart from those beside it: its cgroup, or its own proxies.
    func isolation(_ backend: Scenario.Backend, cell: Int) throws -> CellIsolation {
        switch backend {
        case .kernel: CellIsolation(cgroup: try RunCgroup.make(cell: cell))
        case .proxy:
            CellIsolation(
                proxies: try CellProxies(registry: try proxies().registry, services: scenario.services, cell: cell))
        }
    }

    /// What puts the fault in and takes it out on `backend`; nil when the cell cannot run, with
    /// `cell` saying why.
    func faultObject(
        _ backend: Scenario.Backend, _ request: FaultRequest, service: String, cell: inout CellResult
    ) throws -> CellFault? {
        switch backend {
        case .kernel:
            guard let executable = environment.netfaultExecutable else {
                cell.state = .error
                cell.reason = "the kernel backend needs netfault beside netfault-matrix to start watchdogs"
                cell.outcome = "error"
                return nil
            }
            // A journal handle per cell under --jobs: its lock is an flock per open file.
            let manager = environment.jobs > 1 ? LeaseManager(journal: try Journal()) : try leaseManager()
            return LeaseFault(
                manager: manager, request: request, policy: leasePolicy(for: request, journal: manager.journal),
                executable: executable)
        case .proxy:
            let plan = FaultWords.proxyPlan(request)
            if let why = plan.unsupported {
                cell.reason = why
                return nil
            }
            cell.notes = plan.notes
            return ToxicFault(registry: try proxies().registry, proxy: service, plan: plan)
        }
    }

    func baseline(_ backend: Scenario.Backend, _ cell: CellResult) throws -> CellResult {
        var cell = cell
        if backend == .proxy { _ = try proxies() }
        let run = try command(scenario.command, backend: backend, timeout: scenario.timeout)
        record(run, into: &cell, service: nil)
        if run.passed { baselines[backend] = run.seconds }
        cell.baselineSeconds = nil
        return cell
    }

    func record(_ run: CommandRun, into cell: inout CellResult, service: String?) {
        cell.exitStatus = run.exitStatus
        cell.seconds = run.seconds
        cell.outputTail = run.outputTail
        cell.connections = run.connections
        cell.metrics = run.metrics
        cell.state = run.passed ? .passed : .failed
        if let c = run.connections.first(where: { $0.service == service }) {
            cell.connected = c.peakEstablished > 0 ? true : c.peakConnecting > 0 ? false : nil
        }
        cell.symptoms = run.passed ? [] : Self.symptoms(in: run.outputTail)
        cell.outcome = Self.outcome(
            run, connected: cell.connected, symptoms: cell.symptoms ?? [], timeout: scenario.timeout)
    }

    /// How a run ended, in words: the exit; for a failure, whether the command's connections
    /// to the faulted service ever completed, and the error words in its output.
    static func outcome(_ run: CommandRun, connected: Bool?, symptoms: [String], timeout: Duration) -> String {
        if run.interrupted { return "interrupted" }
        if run.passed { return "passed" }
        var parts = [
            run.timedOut ? "timed out (still running after \(timeout))" : "failed (exit \(run.exitStatus ?? -1))"
        ]
        switch connected {
        case true?: parts.append("connected then failed")
        case false?: parts.append("connect never completed")
        case nil: break
        }
        if !symptoms.isEmpty { parts.append("saw: " + symptoms.joined(separator: ", ")) }
        return parts.joined(separator: ", ")
    }

    /// Error words that clients in most languages print (strerror texts, MySQL's "Lost
    /// connection"), found in the output's tail, in a fixed order.
    static func symptoms(in output: String) -> [String] {
        let text = output.lowercased()
        let words: [(String, [String])] = [
            ("too many open files", ["too many open files"]),
            ("connection refused", ["connection refused"]),
            ("connection reset", ["connection reset", "reset by peer"]),
            ("broken pipe", ["broken pipe"]),
            ("connection lost", ["lost connection", "connection closed", "connection aborted"]),
            ("timeout", ["timed out", "timeout"]),
        ]
        return words.filter { $0.1.contains { text.contains($0) } }.map(\.0)
    }

    func command(
        _ argv: [String], backend: Scenario.Backend, timeout: Duration, apart: CellIsolation? = nil
    ) throws -> CommandRun {
        var env = scenario.env
        for s in scenario.services {
            let at = backend == .kernel ? s.upstream : apart?.listen(s.name) ?? s.listen
            guard let name = s.env else { continue }
            env[name] = at.description
            env[name + "_HOST"] = at.host
            env[name + "_PORT"] = String(at.port)
        }
        let watch = scenario.services.map {
            WatchedPort(
                service: $0.name,
                port: backend == .kernel ? $0.upstream.port : (apart?.listen($0.name) ?? $0.listen).port)
        }
        return try CommandRunner.run(
            argv, environment: env, directory: scenario.workdir, identity: environment.identity, timeout: timeout,
            watch: watch, stop: stop, cgroupProcs: apart?.cgroup?.procs ?? -1)
    }

    /// One journal and lease manager for every kernel cell of the run.
    func leaseManager() throws -> LeaseManager {
        if let manager { return manager }
        let m = LeaseManager(journal: try Journal())
        manager = m
        return m
    }

    func proxies() throws -> Proxies {
        if let proxySet { return proxySet }
        let p = try Proxies(services: scenario.services)
        proxySet = p
        return p
    }

    /// Why a row cannot run on this kernel: each of its cells, kernel and proxy alike, runs on
    /// the kernel its baseline ran on, so a row the kernel backend cannot run here is run
    /// elsewhere as a whole (make matrix runs netem rows in user-mode Linux). A run of proxy
    /// cells alone (--backend proxy, --only .../proxy) runs them here.
    func skipReason(_ r: FaultRequest) -> String? {
        guard kernelInRun else { return nil }
        if let phase = FaultWords.phaseSkip(r, hasNFTables: environment.hasNFTables, kernel: environment.kernel) {
            return phase
        }
        if !r.netem.isEmpty && !environment.hasNetem {
            return "this kernel (\(environment.kernel)) has no netem; the row runs where it has "
                + "(make matrix runs it in user-mode Linux)"
        }
        if !r.filter.isEmpty && !environment.hasNFTables {
            return "this kernel (\(environment.kernel)) has no usable nf_tables; the row runs where it has "
                + "(make matrix runs it in a network namespace)"
        }
        return nil
    }

    /// Whether the fault draws random numbers, and whether they can be drawn again.
    static func randomness(_ r: FaultRequest, backend: Scenario.Backend) -> String {
        let n = r.netem
        var random: [String] = []
        if n.jitter != nil { random.append("jitter") }
        if n.loss != nil { random.append("loss") }
        if n.duplicate != nil { random.append("duplication") }
        if n.corrupt != nil { random.append("corruption") }
        if n.reorder != nil && n.gap == nil { random.append("reordering") }
        if r.filter.loss != nil { random.append("nf_tables loss") }
        if case .percent? = r.filter.connections { random.append("the connections drawn") }
        if r.filter.mix != nil { random.append("the connections drawn") }
        guard !random.isEmpty else { return "deterministic" }
        let what = random.joined(separator: ", ")
        if backend == .proxy { return "not reproducible: \(what) from an unseeded generator" }
        // TCA_NETEM_PRNG_SEED came with kernel 6.6; no kernel netfault is tested on has it.
        return "not reproducible: \(what) (netem's seed needs kernel 6.6; netfault sets none)"
    }
}
