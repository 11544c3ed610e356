import Foundation
import Testing

@testable import NetFaultMatrixReport

@Suite struct HTMLReportTests {
    @Test func pageIsWellFormedWithEverySection() throws {
        let html = Fixtures.sample.html()
        let xml = ParsedXML(html)
        try #require(xml.error == nil, "\(xml.error!)")
        let ids = Set(xml.elements.compactMap { $0.attributes["id"] })
        #expect(ids.isSuperset(of: ["summary", "disagreements", "chart", "cells", "duration-chart"]))
        #expect(html.contains("<h1>netfault matrix: shop/matrix.yaml</h1>"))
        #expect(html.contains("<code>6.1.0-28-amd64</code>"))
        // A <tbody> per cell, each with its <details>.
        #expect(xml.all("tbody").filter { $0.attributes["class"]?.hasPrefix("cell ") == true }.count == 10)
        #expect(xml.all("details").count == 10)
        #expect(html.contains("106.21 s") && html.contains("+100.10 s") && html.contains("100.00 s (×1.00)"))
    }

    @Test func barsAndDisagreementsLinkToTheirCells() throws {
        let xml = ParsedXML(Fixtures.sample.html())
        let ids = Set(xml.all("tbody").compactMap { $0.attributes["id"] })
        let links = xml.all("a").compactMap { $0.attributes["href"] }
        #expect(links.count == 8 + 2)
        for link in links { #expect(link.hasPrefix("#") && ids.contains(String(link.dropFirst())), "\(link)") }
    }

    @Test func selfContained() {
        let html = Fixtures.sample.html()
        #expect(!html.contains("<script"))
        #expect(!html.contains("src="))
        #expect(!html.contains("<link"))
        // The only URL is the SVG namespace, which is a name, not a fetch.
        #expect(html.components(separatedBy: "http://").count == 2 && !html.contains("https://"))
        #expect(html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
    }

    @Test func disagreementsListedOrNone() throws {
        let html = Fixtures.sample.html()
        let xml = ParsedXML(html)
        let section = try #require(xml.all("section").first { $0.attributes["id"] == "disagreements" })
        #expect(section.text.contains("mysql / blackhole: kernel timed out after 120s vs proxy failed (exit 1), connected then failed"))
        var agreeing = Fixtures.sample
        agreeing.disagreements = []
        let none = try #require(ParsedXML(agreeing.html()).all("section").first { $0.attributes["id"] == "disagreements" })
        #expect(none.text.contains("Disagreements between the kernel and proxy backends"))
        #expect(none.text.contains("None"))
    }

    @Test func hostileTextIsEscaped() throws {
        var report = Fixtures.sample
        report.cells[4].id = "mysql/<script>&\"'/kernel"
        report.cells[4].service = "my<b>sql"
        report.cells[4].outputTail = Fixtures.hostile
        report.cells[4].notes = ["<img src=x onerror=alert(1)>"]
        report.scenario = Fixtures.hostile
        let html = report.html()
        #expect(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>sql"))
        #expect(!html.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        let xml = ParsedXML(html)
        try #require(xml.error == nil, "\(xml.error!)")
        #expect(xml.all("rect").contains { $0.attributes["data-cell"] == "mysql/<script>&\"'/kernel" })
        #expect(xml.all("pre").contains { $0.text == "<script>alert('x')</script> & \"q\" FAILEDend" })
    }

    @Test func emptyReport() throws {
        let xml = ParsedXML(MatrixReport(scenario: "m", started: "", cells: [], disagreements: []).html())
        try #require(xml.error == nil, "\(xml.error!)")
        #expect(xml.all("svg").count == 1)
        #expect(xml.all("section").first { $0.attributes["id"] == "disagreements" }?.text.contains("None") == true)
    }
}
