import Foundation
import Testing

@testable import NetFaultMatrixReport

@Suite struct JUnitReportTests {
    @Test func suitePerBackendAndCountsAddUp() throws {
        let xml = ParsedXML(Fixtures.sample.junitXML())
        try #require(xml.error == nil, "\(xml.error!)")
        let root = try #require(xml.all("testsuites").first)
        // 10 cells and 6 recovery checks; failures: 2 cells and 1 recovery.
        #expect(root.attributes["name"] == "netfault matrix")
        #expect(root.attributes["tests"] == "16")
        #expect(root.attributes["failures"] == "3")
        #expect(root.attributes["errors"] == "1")
        #expect(root.attributes["skipped"] == "1")
        #expect(xml.all("testsuite").map { $0.attributes["name"]! } == ["kernel", "proxy"])
        #expect(xml.all("testsuite").map { $0.attributes["tests"]! } == ["8", "8"])
        let names = xml.all("testcase").map { $0.attributes["name"]! }
        #expect(names.contains("baseline/kernel"))
        #expect(names.contains("mysql/blackhole/proxy recovery"))
        #expect(names.contains("mysql/blackhole/kernel recovery"))
        let classes = Set(xml.all("testcase").map { $0.attributes["classname"]! })
        #expect(classes.contains("netfault.matrix.baseline") && classes.contains("netfault.matrix.mysql"))
    }

    @Test func resultsCarryOutcomeReasonAndOutput() throws {
        let xml = ParsedXML(Fixtures.sample.junitXML())
        let failures = xml.all("failure")
        #expect(failures.map { $0.attributes["message"]! }
            == ["timed out after 120s", "failed (exit 1), connected then failed", "recovery failed (exit 1)"])
        #expect(failures.allSatisfy { $0.attributes["type"] == "failed" })
        // The ANSI colour is gone, the CRLF a newline, the markup text again.
        #expect(failures[0].text == "test_orders FAILED\nTimeout: <mysql>")
        #expect(xml.all("error").map { $0.attributes["message"]! } == ["nft: Operation not permitted"])
        #expect(xml.all("skipped").map { $0.attributes["message"]! } == ["no proxy equivalent: loss is per packet"])
        let delay = try #require(xml.all("testcase").first { $0.attributes["name"] == "mysql/delay-10ms/kernel" })
        #expect(delay.attributes["time"] == "106.210")
    }

    @Test func propertiesDescribeTheCell() throws {
        let junit = Fixtures.sample.junitXML()
        let xml = ParsedXML(junit)
        let properties = Dictionary(
            xml.all("property").map { ($0.attributes["name"]!, $0.attributes["value"]!) }, uniquingKeysWith: { a, _ in a })
        #expect(properties["kernel"] == "6.1.0-28-amd64")
        #expect(properties["randomness"] == "deterministic")
        #expect(properties["fault"] == "--delay 10ms")
        #expect(properties["packets matched"] == "120")
        #expect(properties["connections mysql peak"] == "2")
        #expect(properties["connections mysql final"] == "1")
        #expect(properties["schedule"] == "after 1s, on 1s every 4s")
        #expect(properties["rerun"]?.hasPrefix("netfault matrix m.yaml --only ") == true)
    }

    @Test func hostileTextIsEscapedAndControlCharactersDropped() throws {
        var report = Fixtures.sample
        report.cells[4].id = "mysql/<script>&\"'/kernel"
        report.cells[4].outcome = Fixtures.hostile
        report.cells[4].outputTail = Fixtures.hostile + "\n\u{0}\u{1B}]0;title\u{07}tail"
        report.scenario = "a\"b<c>&'d"
        let junit = report.junitXML()
        #expect(!junit.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!junit.contains("<script>"))
        let xml = ParsedXML(junit)
        try #require(xml.error == nil, "\(xml.error!)")
        let plain = "<script>alert('x')</script> & \"q\" FAILEDend"
        let failed = try #require(xml.all("testcase").first { $0.attributes["name"] == "mysql/<script>&\"'/kernel" })
        #expect(failed.text.contains(plain + "\ntail"))
        #expect(xml.all("failure").first?.attributes["message"] == plain)
        #expect(xml.all("property").contains { $0.attributes["value"] == "a\"b<c>&'d" })
    }

    @Test func emptyReportIsStillValid() throws {
        let xml = ParsedXML(MatrixReport(scenario: "m", started: "", cells: [], disagreements: []).junitXML())
        try #require(xml.error == nil, "\(xml.error!)")
        #expect(xml.all("testsuites").first?.attributes["tests"] == "0")
        #expect(xml.all("testsuite").count == 2)
    }
}
