import Foundation
import Testing

@testable import NetFaultMatrixReport

// The writers' output read back by the programs that read it in practice: junitparser (as CI
// plugins do) and a browser. Missing, they are reported as not run with the reason, unless
// NETFAULT_REPORT_TOOLS=required, when a missing program is a failure.

@Suite struct JUnitParserTests {
    static let reason: Comment =
        "needs junitparser in /opt/netfault/toxiproxy (scripts/install-deps installs it); NETFAULT_REPORT_TOOLS=required makes this a failure"

    static let script = """
        import json, sys
        from junitparser import JUnitXml, Failure, Error, Skipped
        xml = JUnitXml.fromfile(sys.argv[1])
        suites = []
        for suite in xml:
            cases = []
            for case in suite:
                results = [{"type": type(r).__name__, "message": r.message} for r in case.result]
                cases.append({"name": case.name, "classname": case.classname, "time": case.time, "results": results,
                              "out": case.system_out})
            suites.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures,
                           "errors": suite.errors, "skipped": suite.skipped, "time": suite.time, "cases": cases})
        print(json.dumps({"tests": xml.tests, "failures": xml.failures, "errors": xml.errors,
                          "skipped": xml.skipped, "suites": suites}))
        """

    @Test(.enabled(if: ReportTools.junitparser != nil || ReportTools.required, reason))
    func junitparserReadsTheReport() throws {
        let python = try #require(ReportTools.junitparser,
            "NETFAULT_REPORT_TOOLS=required, but \(ReportTools.python) cannot import junitparser: scripts/install-deps installs it")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var report = Fixtures.sample
        report.cells[5].outputTail = Fixtures.hostile
        let file = dir.appendingPathComponent("matrix.xml")
        try report.junitXML().write(to: file, atomically: true, encoding: .utf8)
        keep("matrix.xml", report.junitXML())

        let run = try runProgram([python, "-c", Self.script, file.path])
        try #require(run.status == 0, "junitparser: \(run.stderr)")
        let read = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(read["tests"] as? Int == 16)
        #expect(read["failures"] as? Int == 3)
        #expect(read["errors"] as? Int == 1)
        #expect(read["skipped"] as? Int == 1)
        let suites = try #require(read["suites"] as? [[String: Any]])
        #expect(suites.map { $0["name"] as? String } == ["kernel", "proxy"])
        #expect(suites.map { $0["tests"] as? Int } == [8, 8])
        let cases = suites.flatMap { $0["cases"] as? [[String: Any]] ?? [] }
        let byName = Dictionary(cases.map { ($0["name"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        func results(_ name: String) -> [String] {
            (byName[name]?["results"] as? [[String: Any]] ?? []).map { "\($0["type"]!): \($0["message"]!)" }
        }
        #expect(results("mysql/delay-10ms/kernel").isEmpty)
        #expect(byName["mysql/delay-10ms/kernel"]?["time"] as? Double == 106.21)
        #expect(byName["baseline/proxy"]?["classname"] as? String == "netfault.matrix.baseline")
        #expect(results("mysql/blackhole/kernel") == ["Failure: timed out after 120s"])
        #expect(results("mysql/blackhole/proxy") == ["Failure: failed (exit 1), connected then failed"])
        #expect(results("mysql/blackhole/proxy recovery") == ["Failure: recovery failed (exit 1)"])
        #expect(results("mysql/blackhole/kernel recovery").isEmpty)
        #expect(results("redis/loss-5%/proxy") == ["Skipped: no proxy equivalent: loss is per packet"])
        let long = "postgres-primary-with-a-rather-long-service-name/partition/kernel"
        #expect(results(long) == ["Error: nft: Operation not permitted"])
        #expect(byName["mysql/blackhole/proxy"]?["out"] as? String == "<script>alert('x')</script> & \"q\" FAILEDend")
    }
}

@Suite struct BrowserTests {
    static let reason: Comment =
        "needs chromium (scripts/install-deps installs it); NETFAULT_REPORT_TOOLS=required makes this a failure"

    /// Chromium's headless DOM after loading the page from a file: what a person's browser builds.
    func dom(_ html: String) throws -> String {
        let chromium = try #require(ReportTools.chromium,
            "NETFAULT_REPORT_TOOLS=required, but there is no chromium on PATH (or at NETFAULT_REPORT_CHROMIUM): scripts/install-deps installs it")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("matrix.html")
        try html.write(to: file, atomically: true, encoding: .utf8)
        // A profile of its own, so tests running at once do not share one; no sandbox as root.
        let run = try runProgram([
            chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--user-data-dir=\(dir.appendingPathComponent("profile").path)",
            "--dump-dom", file.absoluteString,
        ])
        try #require(run.status == 0 && run.stdout.contains("</html>"),
                     "chromium exited \(run.status): \(run.stderr.suffix(2000))")
        return run.stdout
    }

    @Test(.enabled(if: ReportTools.chromium != nil || ReportTools.required, reason))
    func chromiumBuildsTheChartAndSections() throws {
        let html = Fixtures.sample.html()
        keep("matrix.html", html)
        let dom = try dom(html)
        // The DOM Chromium serialises is HTML, not XML: look for the elements by their markup.
        #expect(dom.contains("<svg id=\"duration-chart\" role=\"img\""))
        #expect(dom.components(separatedBy: "<rect class=\"bar kernel").count - 1 == 4)
        #expect(dom.components(separatedBy: "<rect class=\"bar proxy").count - 1 == 4)
        #expect(dom.contains("<section id=\"disagreements\">"))
        #expect(dom.contains("Disagreements between the kernel and proxy backends"))
        #expect(dom.contains("<strong>mysql / blackhole</strong>"))
        #expect(dom.components(separatedBy: "<details>").count - 1 == Fixtures.sample.cells.count)
    }

    @Test(.enabled(if: ReportTools.chromium != nil || ReportTools.required, reason))
    func chromiumKeepsHostileTextAsText() throws {
        var report = Fixtures.sample
        report.cells[4].id = "mysql/<script>document.title='owned'</script>/kernel"
        report.cells[4].outputTail = Fixtures.hostile
        let dom = try dom(report.html())
        #expect(!dom.contains("<script>"))
        #expect(dom.contains("&lt;script&gt;alert('x')&lt;/script&gt;"))
        #expect(dom.contains("<title>netfault matrix: shop/matrix.yaml</title>"))
    }
}
