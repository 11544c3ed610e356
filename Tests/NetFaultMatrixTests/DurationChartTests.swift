import Testing

@testable import NetFaultMatrixReport

@Suite struct DurationChartTests {
    func chart(_ report: MatrixReport) throws -> ParsedXML {
        let xml = ParsedXML(report.durationChartSVG())
        try #require(xml.error == nil, "\(xml.error!)")
        let svg = try #require(xml.elements.first)
        #expect(svg.name == "svg" && svg.attributes["id"] == "duration-chart" && svg.attributes["role"] == "img")
        #expect(svg.text.contains("Duration per fault and backend, against the baseline"))
        return xml
    }

    func bars(_ xml: ParsedXML) -> [ParsedXML.Element] {
        xml.all("rect").filter { $0.attributes["class"]?.hasPrefix("bar ") == true }
    }

    @Test func aBarPerBackendPerRowWithBaselineTicks() throws {
        let xml = try chart(Fixtures.sample)
        let bars = bars(xml)
        #expect(bars.count == 8)
        #expect(bars.map { $0.attributes["data-cell"]! } == Fixtures.sample.cells.filter { !$0.isBaseline }.map(\.id))
        #expect(bars.filter { $0.attributes["class"]!.contains("kernel") }.count == 4)
        // A tick at the baseline for every bar that ran (the skip and the error have none to stand against... the
        // error has a baseline but no time: its tick still shows where the baseline was).
        #expect(xml.all("line").filter { $0.attributes["class"]?.hasPrefix("baseline") == true }.count == 7)
        #expect(xml.all("text").map(\.text).filter { $0.hasSuffix(" s") && $0.first!.isNumber } .map { $0 }
            .starts(with: ["0 s", "20 s", "40 s", "60 s", "80 s", "100 s", "120 s"]))
        let labels = xml.all("text").filter { $0.attributes["class"] == "bar-label" }.map(\.text)
        #expect(labels.contains("106.21 s (+100.10 s)"))
        #expect(labels.contains("120.00 s · failed"))
        #expect(labels.contains("skipped: no proxy equivalent: loss is pe…"))
        #expect(labels.contains("error"))
    }

    @Test func barsScaleToTheLongest() throws {
        let bars = bars(try chart(Fixtures.sample))
        let width = { (id: String) in Double(bars.first { $0.attributes["data-cell"] == id }!.attributes["width"]!)! }
        #expect(abs(width("mysql/delay-10ms/kernel") / width("mysql/blackhole/kernel") - 106.21 / 120) < 0.01)
        #expect(width("redis/loss-5%/proxy") == 0)
    }

    @Test func noCells() throws {
        let xml = try chart(MatrixReport(scenario: "m", started: "", cells: [], disagreements: []))
        #expect(bars(xml).isEmpty)
        #expect(xml.elements.first!.text.contains("No fault cells to chart"))
    }

    @Test func everyCellNotRunOrUntimed() throws {
        let cells = [
            Fixtures.cell(id: "a/b/kernel", seconds: nil, baseline: nil, state: .skipped, reason: "no netem"),
            Fixtures.cell(id: "a/b/proxy", backend: "proxy", seconds: nil, baseline: nil, state: .skipped),
            Fixtures.cell(id: "a/c/kernel", fault: "c", seconds: 0, baseline: 0),
            Fixtures.cell(id: "a/c/proxy", fault: "c", backend: "proxy", seconds: nil, baseline: nil, state: .failed),
        ]
        let xml = try chart(MatrixReport(scenario: "m", started: "", cells: cells, disagreements: []))
        #expect(bars(xml).count == 4)
        #expect(bars(xml).allSatisfy { $0.attributes["width"] == "0" })
        // Nothing to scale by: the axis still has round ticks, up to one second.
        #expect(xml.all("text").map(\.text).contains("1 s"))
        #expect(xml.all("text").filter { $0.attributes["class"] == "bar-label" }.map(\.text)
            == ["skipped: no netem", "skipped", "0.00 s (+0.00 s)", "failed"])
    }

    @Test func longNamesAreCutWithTheWholeNameInATooltip() throws {
        let long = String(repeating: "service-", count: 20)
        let cells = [Fixtures.cell(id: "\(long)/delay/kernel", service: long, seconds: 3, baseline: 1)]
        let xml = try chart(MatrixReport(scenario: "m", started: "", cells: cells, disagreements: []))
        let label = try #require(xml.all("text").first { $0.attributes["font-weight"] == "600" && $0.text.hasSuffix("/ delay") })
        #expect(label.text.hasPrefix(String(long.prefix(33)) + "…"))
        // The chart stays its width however long the name.
        #expect(xml.elements.first!.attributes["width"] == "1200")
    }

    @Test func roundTicks() {
        #expect(DurationChart.ticks(upTo: 106.21) == [0, 20, 40, 60, 80, 100, 120])
        #expect(DurationChart.ticks(upTo: 6) == [0, 1, 2, 3, 4, 5, 6])
        #expect(DurationChart.ticks(upTo: 0.7) == [0, 0.2, 0.4, 0.6, 0.8])
        #expect(DurationChart.ticks(upTo: 13) == [0, 2.5, 5, 7.5, 10, 12.5, 15])
        #expect(DurationChart.ticks(upTo: 0) == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(DurationChart.ticks(upTo: .infinity) == [0, 0.2, 0.4, 0.6, 0.8, 1])
    }
}
