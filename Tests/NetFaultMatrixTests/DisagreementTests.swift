import Testing

@testable import NetFaultMatrixReport

@Suite struct DisagreementTests {
    func cell(_ service: String, _ fault: String, _ backend: String, _ outcome: String,
              state: CellState = .failed, kernel: String = "6.18.0", exit: Int32? = nil,
              connected: Bool? = nil) -> CellResult {
        Fixtures.cell(id: "\(service)/\(fault)/\(backend)", service: service, fault: fault, backend: backend,
                      seconds: 1, baseline: 1, state: state, outcome: outcome, kernel: kernel, exit: exit,
                      connected: connected)
    }

    @Test func differentEndingsInCellOrder() {
        let found = MatrixReport.findDisagreements([
            cell("redis", "reset", "proxy", "failed (exit 1)"),
            cell("mysql", "blackhole", "kernel", "failed (exit 1), connect never completed", connected: false),
            cell("mysql", "blackhole", "proxy", "failed (exit 1), connected then failed", connected: true),
            cell("redis", "reset", "kernel", "failed (exit 2)", exit: 2),
        ])
        #expect(found == [
            Disagreement(service: "redis", fault: "reset", kernel: "failed (exit 2)", proxy: "failed (exit 1)"),
            Disagreement(service: "mysql", fault: "blackhole", kernel: "failed (exit 1), connect never completed",
                         proxy: "failed (exit 1), connected then failed"),
        ])
    }

    @Test("connections seen by one backend only, or words in the output, are no disagreement")
    func unseenConnectionsAndWordsAgree() {
        #expect(MatrixReport.findDisagreements([
            cell("redis", "reset", "kernel", "failed (exit 1), saw: connection refused"),
            cell("redis", "reset", "proxy", "failed (exit 1), connected then failed, saw: connection reset",
                 connected: true),
            cell("mysql", "hang", "kernel", "failed (exit 1), connected then failed", connected: true),
            cell("mysql", "hang", "proxy", "failed (exit 1), connected then failed, saw: timeout", connected: true),
        ]).isEmpty)
    }

    @Test func sameOutcomesOneBackendAndCellsNotRunAreNoDisagreement() {
        #expect(MatrixReport.findDisagreements([
            cell("mysql", "delay", "kernel", "passed", state: .passed),
            cell("mysql", "delay", "proxy", "passed", state: .passed),
            cell("redis", "loss", "kernel", "failed (exit 1)"),
            cell("redis", "loss", "proxy", "no proxy equivalent", state: .skipped),
            cell("pg", "reset", "kernel", "failed (exit 1)"),
            Fixtures.cell(id: "baseline/kernel", service: nil, seconds: 6, baseline: nil),
            Fixtures.cell(id: "baseline/proxy", service: nil, backend: "proxy", seconds: 6, baseline: nil,
                          outcome: "something else"),
        ]).isEmpty)
    }

    @Test func cellThatRanTakesTheNotRunCellsPlace() {
        let first = MatrixReport(scenario: "m.yaml", started: "2026-12-05T02:00:00Z", cells: [
            cell("mysql", "delay", "kernel", "no netem in this kernel", state: .skipped),
            cell("mysql", "delay", "proxy", "passed", state: .passed),
            cell("mysql", "reset", "kernel", "failed (exit 1)"),
        ], disagreements: [])
        let second = MatrixReport(scenario: "other.yaml", started: "2026-12-05T01:00:00Z", cells: [
            cell("mysql", "delay", "kernel", "timed out after 120s", kernel: "6.1.158 (user-mode Linux)"),
            cell("mysql", "reset", "kernel", "skipped here", state: .skipped),
            cell("mysql", "loss", "kernel", "passed", state: .passed),
        ], disagreements: [])
        let merged = MatrixReport.merged([first, second])
        #expect(merged.cells.map(\.id) == ["mysql/delay/kernel", "mysql/delay/proxy", "mysql/reset/kernel", "mysql/loss/kernel"])
        #expect(merged.cells[0].outcome == "timed out after 120s")
        #expect(merged.cells[2].state == .failed)  // a skip never replaces a cell that ran
        #expect(merged.disagreements == [
            Disagreement(service: "mysql", fault: "delay", kernel: "timed out after 120s", proxy: "passed")
        ])
        #expect(merged.scenario == "m.yaml")
        #expect(merged.started == "2026-12-05T01:00:00Z")
    }

    @Test("of two skips, the later run's holds: a row skipped for lack of netem, then as unsupported elsewhere")
    func laterSkipHolds() {
        let first = MatrixReport(scenario: "m.yaml", started: "", cells: [
            cell("redis", "connect-delay", "kernel", "skipped", state: .skipped)
        ], disagreements: [])
        var later = cell("redis", "connect-delay", "kernel", "skipped", state: .skipped, kernel: "6.1.158 (uml)")
        later.reason = "unsupported here: --connect-delay needs nf_tables as well as netem"
        let second = MatrixReport(scenario: "m.yaml", started: "", cells: [later], disagreements: [])
        let merged = MatrixReport.merged([first, second])
        #expect(merged.cells.count == 1 && merged.cells[0].reason == later.reason && merged.cells[0].kernel == later.kernel)
    }

    @Test func baselinesFromTwoKernelsBothStay() {
        let here = Fixtures.cell(id: "baseline/kernel", service: nil, seconds: 6, baseline: nil, kernel: "6.18.0")
        var uml = here
        uml.kernel = "6.1.158 (user-mode Linux)"
        uml.seconds = 9
        var again = here
        again.seconds = 7
        let merged = MatrixReport.merged([
            MatrixReport(scenario: "m", started: "", cells: [here], disagreements: []),
            MatrixReport(scenario: "m", started: "", cells: [uml], disagreements: []),
            MatrixReport(scenario: "m", started: "", cells: [again], disagreements: []),
        ])
        #expect(merged.cells.map(\.id) == ["baseline/kernel", "baseline/kernel (6.1.158 (user-mode Linux))"])
        #expect(merged.cells.map(\.seconds) == [7, 9])  // same kernel: the later run replaces
    }

    @Test func earliestStartIsByTimeNotText() {
        let reports = ["2026-12-05T02:00:00.5Z", "2026-12-05T02:00:00Z", ""].map {
            MatrixReport(scenario: "m", started: $0, cells: [], disagreements: [])
        }
        #expect(MatrixReport.merged(reports).started == "2026-12-05T02:00:00Z")
        #expect(MatrixReport.merged([]) == MatrixReport(scenario: "", started: "", cells: [], disagreements: []))
    }
}
