import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import NetFaultMatrix
import NetFaultMatrixReport
import NetFaultLeases

@main
struct Matrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netfault matrix",
        abstract: "Run a command under each fault, through the kernel and through a proxy, and report.",
        discussion: """
            Reads a scenario (YAML or JSON; docs/matrix.md has the format): services, faults in \
            netfault's own option words, the command to run (e.g. a test suite) and the backends. \
            For each backend it first runs the command with no fault (the baseline), then once per \
            fault and service: with the fault in force (kernel: a lease, as `netfault run` makes; \
            proxy: toxics in netfault serve's built-in proxy, with the command pointed at the \
            proxy's listen address), then once more after the fault is out (the recovery check).

            Each cell records the exit status, the time against the baseline, the output's tail, \
            the packets the kernel's rules matched, and how many TCP connections the command's \
            processes held to each service (peak and at the end, sampled from sock_diag every \
            100 ms). The command runs as the invoking user under sudo (--as-root: as root).

            --jobs N runs up to N cells at once against the same servers (the baselines first, \
            alone). A kernel cell's fault then takes only its own command's connections: the \
            command runs in a cgroup v2 of its own, netfault-run-PID-CELL, as `netfault run --scope \
            command` makes, so one cell's fault never reaches another's. A proxy cell's command \
            talks to proxies of its own, on ports the kernel picks. A cell on a schedule (after:, \
            every:) runs alone with either backend: what its fault meets depends on the command's \
            timing, which a cell beside it would change. A kernel cell that cannot be scoped runs \
            alone too, and its notes say why: a kernel without nf_tables (user-mode Linux) or \
            without socket cgroup v2 matching (`netfault doctor`: nf_tables socket scope), no \
            writable cgroup2 mount, or a mix of connection faults. \
            The cells are those of one job; their times may grow with the machine's load. Known \
            limit (docs/matrix.md): a scoped lease keeps its choice by address and port, so a \
            connection that reuses the source port of another's, beside it, can be taken for it.

            A row whose kernel cell this kernel cannot run (netem missing) is skipped whole, so \
            that a row's cells always compare on one kernel; --include merges the cells of an \
            earlier run (make matrix runs the netem rows in user-mode Linux and includes the rest).

            Exit status: 0 when every cell ran and every recovery check passed (cells that fail \
            under a fault are findings, not errors); 1 when a recovery check failed or a fault \
            could not be put in; 2 when a baseline failed or timed out, so that its backend's \
            fault cells could not run (this wins over 1); 64 for a bad scenario or option; 69 when \
            a proxy cannot listen (before any cell runs); 77 without CAP_NET_ADMIN for the kernel \
            backend; 130 when interrupted (the fault in force is taken out, and the reports of the \
            cells that ran are written).

            Examples:
              sudo netfault matrix examples/ichnaea/matrix.yaml --out out/matrix
              sudo netfault matrix examples/ichnaea/matrix.yaml --jobs 2
              netfault matrix matrix.yaml --only 'redis/*/kernel' --json
              netfault matrix matrix.yaml --only mysql/delay-10ms/proxy
              netfault matrix matrix.yaml --list
            """,
        version: NetFaultVersion.current)

    @Argument(help: ArgumentHelp("The scenario file (YAML or JSON).", valueName: "file"))
    var file: String

    @Option(
        name: .customLong("only"), parsing: .singleValue,
        help: ArgumentHelp(
            "Run only this cell, SERVICE/FAULT/BACKEND (repeatable; * matches any one part), and its baseline.",
            valueName: "cell"))
    var only: [String] = []

    @Option(help: ArgumentHelp("Run only this backend: kernel or proxy.", valueName: "backend"))
    var backend: String?

    @Option(
        help: ArgumentHelp(
            "Write report.json, report.xml (JUnit) and report.html (table and chart) into this directory.",
            valueName: "dir"))
    var out: String?

    @Option(
        parsing: .singleValue,
        help: ArgumentHelp(
            "Merge the cells of an earlier run's report.json; cells run now replace ones it skipped.",
            valueName: "report.json"))
    var include: [String] = []

    @Flag(help: "Print the report as JSON on stdout at the end (progress goes to stderr).")
    var json = false

    @Flag(help: "List the cells the scenario makes, and exit without running anything.")
    var list = false

    @Flag(name: .customLong("as-root"), help: "Under sudo, run the command as root instead of the invoking user.")
    var asRoot = false

    @Option(
        help: ArgumentHelp(
            "Run up to this many cells at once (1 to 16), each kernel fault scoped to its own command.",
            valueName: "n"))
    var jobs: Int = 1

    mutating func validate() throws {
        guard (1...16).contains(jobs) else {
            throw ValidationError("--jobs \(jobs) is out of range: give 1 to 16 cells at once")
        }
        if let backend, Scenario.Backend(rawValue: backend) == nil {
            throw ValidationError("--backend '\(backend)' is not one of kernel, proxy")
        }
    }

    func run() throws {
        var status: Int32 = 0
        try reporting(endsSoon: false) { status = try runMatrix() }
        throw ExitCode(status)
    }

    func runMatrix() throws -> Int32 {
        let scenario = try Scenario.load(path: file)
        var plans = try scenario.cells(only: only)
        if let backend { plans = plans.filter { $0.backend.rawValue == backend } }
        if list {
            print(plans.map(\.id).joined(separator: "\n"))
            return 0
        }
        let earlier = try include.map { path -> MatrixReport in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw InputError("--include \(path): cannot read it (\(String(cString: strerror(errno))))")
            }
            do { return try MatrixReport.parse(json: String(decoding: data, as: UTF8.self)) } catch {
                throw InputError("--include \(path) is not a netfault matrix report.json: \(error)")
            }
        }
        let identity = try CommandIdentity.forRun(asRoot: asRoot)
        let kernelCells = plans.contains { $0.backend == .kernel && $0.fault != nil }
        var hasNetem = false, hasNFTables = false, executable: String?, unscopable: String?
        if kernelCells {
            try requireNetAdmin()
            let journal = try Journal()
            (hasNFTables, hasNetem) = kernelFeatures(journal: journal)
            executable = try netfaultExecutable(for: "netfault matrix")
            if jobs > 1 { unscopable = scopeUnavailable(hasNFTables: hasNFTables, journal: journal) }
            if let unscopable { note("--jobs \(jobs): the kernel cells run one at a time here: \(unscopable)") }
        }
        let runner = MatrixRunner(
            scenario: scenario,
            environment: MatrixEnvironment(
                identity: identity, netfaultExecutable: executable, kernel: kernelName(), hasNetem: hasNetem,
                hasNFTables: hasNFTables, rerunPrefix: "netfault matrix \(file)", jobs: jobs, unscopable: unscopable))
        let sources = [SIGINT, SIGTERM, SIGHUP].map { s -> DispatchSourceSignal in
            signal(s, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
            src.setEventHandler {
                if !runner.stopped { note("stopping after this cell: its fault is taken out and the reports written") }
                runner.requestStop()
            }
            src.resume()
            return src
        }
        defer { sources.forEach { $0.cancel() } }
        let started = Date()
        note("\(plans.count) cells from \(file) on kernel \(kernelName())")
        let cells = try runner.run(plans) { cell, i, total in
            writeStandardError(cell.progressLine(index: i, total: total) + "\n")
        }
        var report = MatrixReport(
            scenario: file, started: started.formatted(.iso8601), cells: cells,
            disagreements: MatrixReport.findDisagreements(cells))
        if !earlier.isEmpty { report = MatrixReport.merged(earlier + [report]) }
        if let out { try write(report, to: out) }
        if json { print(try report.json()) } else { print(report.table()) }
        if runner.stopped { return 130 }
        let (status, problems) = MatrixExit.status(cells)
        problems.forEach(note)
        return status
    }

    func write(_ report: MatrixReport, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let files = [
            ("report.json", try report.json()), ("report.xml", report.junitXML()), ("report.html", report.html())
        ]
        for (name, text) in files {
            let path = dir + "/" + name
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw ProcessError("cannot write \(path): \(error)")
            }
        }
        note("reports written: \(dir)/report.json, report.xml, report.html")
    }
}

/// Why a kernel cell's fault cannot be scoped to its command here (nil: it can): the kernel's
/// features, then a cgroup made and removed, as each cell's will be.
func scopeUnavailable(hasNFTables: Bool, journal: Journal) -> String? {
    guard hasNFTables else {
        return "this kernel (\(kernelName())) has no usable nf_tables, which tells one command's connections apart"
    }
    if let probe = ProbeCache.results(for: [.nfTablesSocketScope], in: journal.directory).first, !probe.ok {
        return "this kernel cannot match a socket's cgroup v2 (nf_tables socket scope: \(probe.detail))"
    }
    do { try RunCgroup.make(cell: 0).end() } catch { return "\(error)" }
    return nil
}

/// `uname -r`, marked when it is user-mode Linux (whose release looks like any other).
func kernelName() -> String {
    var u = utsname()
    uname(&u)
    let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let cpu = ProcFile.text("/proc/cpuinfo") ?? ""
    return cpu.contains("model name\t: UML") || cpu.contains("vendor_id\t: User Mode Linux")
        ? "\(release) (user-mode Linux)" : release
}
