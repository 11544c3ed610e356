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
        seconds: Double?, baseline: Double?, state: CellState = .passed, outcome: String? = nil,
        reason: String? = nil, output: String = "3 passed in 1.2s", recoveryPassed: Bool? = true,
        kernel: String = "6.18.0", expectedGrowth: Double? = 2, exit: Int32? = nil, connected: Bool? = nil
    ) -> CellResult {
        CellResult(
            id: id, service: service, fault: service == nil ? nil : fault, backend: backend,
            faultWords: service == nil ? [] : ["--delay", "10ms"], schedule: nil, state: state, reason: reason,
            outcome: outcome ?? state.rawValue, exitStatus: exit ?? (state == .failed ? 1 : 0), seconds: seconds,
            baselineSeconds: baseline, outputTail: output, packetsMatched: 120, notes: [],
            connections: [
                ConnectionCounts(
                    service: "mysql", port: 3306, peak: 2, final: 1, peakEstablished: 2, peakConnecting: 0,
                    samples: 30)
            ],
            recovery: recoveryPassed.map {
                Recovery(command: "pytest", passed: $0, exitStatus: $0 ? 0 : 1, seconds: 1, outputTail: $0 ? "ok" : "1 failed")
            },
            kernel: kernel, randomness: "deterministic", metrics: ["round_trips.mysql": 200],
            expectedGrowthSeconds: service == nil ? nil : expectedGrowth, rerun: "netfault matrix m.yaml --only \(id)",
            connected: connected)
    }

    /// Hostile text: markup, both quotes, an ANSI colour (ESC) and a stray control character.
    static let hostile = "<script>alert('x')</script> & \"q\" \u{1B}[31mFAILED\u{1B}[0m\u{07}\u{0C}\u{85}end"

    /// A run like the ones netfault reports: a suite from 6 s to 106 s under a 10 ms MySQL delay,
    /// a blackhole the backends disagree on, a skip, an error and a long name.
    static var sample: MatrixReport {
        let long = "postgres-primary-with-a-rather-long-service-name"
        var cells = [
            cell(id: "baseline/kernel", service: nil, seconds: 6.11, baseline: nil, recoveryPassed: nil, kernel: "6.1.0-28-amd64"),
            cell(id: "baseline/proxy", service: nil, backend: "proxy", seconds: 6.42, baseline: nil,
                 recoveryPassed: nil, kernel: "6.1.0-28-amd64"),
            cell(id: "mysql/delay-10ms/kernel", fault: "delay-10ms", seconds: 106.21, baseline: 6.11,
                 kernel: "6.1.0-28-amd64", expectedGrowth: 100),
            cell(id: "mysql/delay-10ms/proxy", fault: "delay-10ms", backend: "proxy", seconds: 104.8, baseline: 6.42,
                 kernel: "6.1.0-28-amd64", expectedGrowth: 100),
            cell(id: "mysql/blackhole/kernel", fault: "blackhole", seconds: 120, baseline: 6.11, state: .failed,
                 outcome: "timed out after 120s", output: "test_orders \u{1B}[31mFAILED\u{1B}[0m\r\nTimeout: <mysql>",
                 kernel: "6.1.0-28-amd64", exit: 143, connected: false),
            cell(id: "mysql/blackhole/proxy", fault: "blackhole", backend: "proxy", seconds: 31.2, baseline: 6.42,
                 state: .failed, outcome: "failed (exit 1), connected then failed", recoveryPassed: false,
                 kernel: "6.1.0-28-amd64", connected: true),
            cell(id: "redis/loss-5%/kernel", service: "redis", fault: "loss-5%", seconds: 14.2, baseline: 6.11,
                 kernel: "6.1.0-28-amd64"),
            cell(id: "redis/loss-5%/proxy", service: "redis", fault: "loss-5%", backend: "proxy", seconds: nil,
                 baseline: nil, state: .skipped, reason: "no proxy equivalent: loss is per packet", recoveryPassed: nil,
                 kernel: "6.1.0-28-amd64"),
            cell(id: "\(long)/partition/kernel", service: long, fault: "partition", seconds: nil, baseline: 6.11,
                 state: .error, outcome: "error", reason: "nft: Operation not permitted", output: "", recoveryPassed: nil,
                 kernel: "6.1.0-28-amd64"),
            cell(id: "\(long)/partition/proxy", service: long, fault: "partition", backend: "proxy", seconds: 9.3,
                 baseline: 6.42, kernel: "6.1.0-28-amd64"),
        ]
        cells[3].notes = ["the proxy delays each read, not each packet"]
        cells[9].schedule = "after 1s, on 1s every 4s"
        return MatrixReport(scenario: "shop/matrix.yaml", started: "2026-12-05T02:00:00Z", cells: cells,
                            disagreements: MatrixReport.findDisagreements(cells))
    }
}
