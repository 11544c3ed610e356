import FoundationEssentials
import Testing

@testable import NetFaultMatrixReport

@Suite struct ReportModelTests {
    @Test func growthNeedsBothTimes() {
        var cell = Fixtures.cell(id: "mysql/delay/kernel", seconds: 8.5, baseline: 6)
        #expect(cell.growthSeconds == 2.5)
        cell.baselineSeconds = nil
        #expect(cell.growthSeconds == nil)
        #expect(Fixtures.cell(id: "baseline/kernel", service: nil, seconds: 6, baseline: nil).isBaseline)
    }

    @Test func jsonRoundTrips() throws {
        let report = MatrixReport(
            scenario: "matrix.yaml", started: "2026-12-05T02:00:00Z",
            cells: [Fixtures.cell(id: "redis/blackhole/kernel", seconds: 3, baseline: 1)],
            disagreements: [Disagreement(service: "redis", fault: "blackhole", kernel: "a", proxy: "b")])
        let data = try JSONEncoder().encode(report)
        #expect(try JSONDecoder().decode(MatrixReport.self, from: data) == report)
    }
}

enum Fixtures {
    static func cell(
        id: String, service: String? = "mysql", fault: String? = "delay", backend: String = "kernel",
        seconds: Double?, baseline: Double?, state: CellState = .passed
    ) -> CellResult {
        CellResult(
            id: id, service: service, fault: service == nil ? nil : fault, backend: backend,
            faultWords: service == nil ? [] : ["--delay", "10ms"], schedule: nil, state: state, reason: nil,
            outcome: state.rawValue, exitStatus: 0, seconds: seconds, baselineSeconds: baseline,
            outputTail: "3 passed in 1.2s", packetsMatched: 120, notes: [],
            connections: [
                ConnectionCounts(
                    service: "mysql", port: 3306, peak: 2, final: 1, peakEstablished: 2, peakConnecting: 0,
                    samples: 30)
            ],
            recovery: Recovery(command: "pytest", passed: true, exitStatus: 0, seconds: 1, outputTail: "ok"),
            kernel: "6.18.0", randomness: "deterministic", metrics: ["round_trips.mysql": 200],
            expectedGrowthSeconds: 2, rerun: "netfault matrix m.yaml --only \(id)")
    }
}
