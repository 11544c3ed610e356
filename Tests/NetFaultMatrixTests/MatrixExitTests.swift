import NetFaultMatrixReport
import Testing

@testable import NetFaultMatrix

/// netfault matrix's exit status from the cells it ran.
@Suite struct MatrixExitTests {
    func baseline(_ state: CellState, backend: String = "kernel") -> CellResult {
        Fixtures.cell(
            id: "baseline/\(backend)", service: nil, backend: backend, seconds: 1, baseline: nil, state: state,
            outcome: state == .failed ? "timed out" : nil)
    }

    func fault(_ state: CellState, backend: String = "kernel", recovered: Bool? = true) -> CellResult {
        Fixtures.cell(
            id: "mysql/delay/\(backend)", backend: backend, seconds: 1, baseline: 1, state: state,
            recoveryPassed: recovered)
    }

    @Test func everyCellRanIsZeroAndFailuresUnderAFaultAreFindings() {
        #expect(MatrixExit.status([baseline(.passed), fault(.failed)]).status == 0)
    }

    @Test("a baseline that failed or timed out, with its fault cells skipped, is 2 and names the baseline")
    func failedBaselineIsTwo() {
        let (status, problems) = MatrixExit.status([
            baseline(.failed), baseline(.passed, backend: "proxy"), fault(.skipped, recovered: nil),
            fault(.passed, backend: "proxy"),
        ])
        #expect(status == MatrixExit.baselineFailed && status == 2)
        #expect(problems == ["baseline/kernel did not pass (timed out): its backend's 1 fault cells could not run"])
    }

    @Test("a failed baseline wins over a failed recovery check; either alone is non-zero")
    func orderOfStatuses() {
        #expect(MatrixExit.status([baseline(.passed), fault(.passed, recovered: false)]).status == 1)
        #expect(MatrixExit.status([baseline(.passed), fault(.error, recovered: nil)]).status == 1)
        #expect(
            MatrixExit.status([baseline(.failed, backend: "proxy"), baseline(.passed), fault(.error, recovered: nil)])
                .status == 2)
    }

    @Test("cells skipped for this kernel's missing features leave the status at 0")
    func kernelSkipsAreNotErrors() {
        #expect(MatrixExit.status([baseline(.passed), fault(.skipped, recovered: nil)]).status == 0)
    }
}
