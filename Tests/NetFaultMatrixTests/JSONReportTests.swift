import Foundation
import Testing

@testable import NetFaultMatrixReport

@Suite struct JSONReportTests {
    @Test func prettySortedAndSlashesKept() throws {
        let json = try Fixtures.sample.json()
        #expect(json.contains("\n  \"cells\" : ["))
        #expect(json.contains("netfault matrix m.yaml --only mysql/delay-10ms/kernel"))
        #expect(!json.contains("\\/"))
        // Sorted keys: the top level reads cells, disagreements, scenario, started.
        let keys = ["\"cells\"", "\"disagreements\"", "\"scenario\"", "\"started\""].map { json.range(of: $0)!.lowerBound }
        #expect(keys == keys.sorted())
    }

    @Test func parseReadsWhatJsonWrote() throws {
        var report = Fixtures.sample
        report.cells[2].outputTail = Fixtures.hostile
        #expect(try MatrixReport.parse(json: report.json()) == report)
    }

    @Test func parseRefusesWhatIsNotAReport() {
        #expect(throws: (any Error).self) { try MatrixReport.parse(json: "{\"scenario\": 1}") }
        #expect(throws: (any Error).self) { try MatrixReport.parse(json: "") }
    }
}
