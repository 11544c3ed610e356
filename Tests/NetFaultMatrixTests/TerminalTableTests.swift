import Testing

@testable import NetFaultMatrixReport

@Suite struct TerminalTableTests {
    @Test func columnsLineUp() {
        let lines = Fixtures.sample.table().split(separator: "\n").map(String.init)
        keep("table.txt", Fixtures.sample.table())
        #expect(lines.count == Fixtures.sample.cells.count + 3)
        // Every row's separators sit where the header's do.
        let bars = { (line: String, mark: Character) in
            line.indices.filter { line[$0] == mark }.map { line.distance(from: line.startIndex, to: $0) }
        }
        let header = bars(lines[0], "|")
        #expect(header.count == 7)
        #expect(bars(lines[1], "+") == header)
        for line in lines.dropFirst(2).dropLast() { #expect(bars(line, "|") == header, "\(line)") }
        // Numbers right-aligned: the seconds column ends in the same place on every row.
        #expect(lines[4].contains("| 106.21s |"))
        #expect(lines.last == "10 cells: 6 passed, 2 failed, 1 skipped, 1 error; recovery failed 1 of 6; 2 disagreements")
    }

    @Test func cellsNotRunAndErrorsSayWhy() {
        let table = Fixtures.sample.table()
        #expect(table.contains("skipped: no proxy equivalent: loss is per packet"))
        #expect(table.contains("error: nft: Operation not permitted"))
        // A failure whose words do not say so gains the state.
        #expect(table.contains("| failed: timed out after 120s "))
        #expect(table.contains("| failed (exit 1), connected then failed "))
    }

    @Test func controlCharactersNeverReachTheTerminal() {
        var report = Fixtures.sample
        report.cells[2].id = "mysql/\u{1B}[2J\nwipe/kernel"
        report.cells[2].outcome = Fixtures.hostile
        let table = report.table()
        #expect(!table.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(table.contains("mysql/ wipe/kernel"))
        #expect(table.split(separator: "\n").count == report.cells.count + 3)
    }

    @Test func progressLine() {
        let cell = Fixtures.cell(id: "mysql/delay-10ms/kernel", seconds: 8.51, baseline: 6.11)
        #expect(cell.progressLine(index: 3, total: 22)
            == "[ 3/22] mysql/delay-10ms/kernel          passed     8.51s (+2.40s)  recovery ok")
        let failed = Fixtures.cell(id: "mysql/blackhole/proxy", backend: "proxy", seconds: 120, baseline: 6.11,
                                   state: .failed, outcome: "timed out after 120s", recoveryPassed: false)
        #expect(failed.progressLine(index: 12, total: 22)
            == "[12/22] mysql/blackhole/proxy            failed   120.00s (+113.89s)  recovery FAILED  timed out after 120s")
        let skipped = Fixtures.cell(id: "redis/loss/proxy", seconds: nil, baseline: nil, state: .skipped,
                                    reason: "no proxy equivalent", recoveryPassed: nil)
        #expect(skipped.progressLine(index: 1, total: 9)
            == "[1/9] redis/loss/proxy                 skipped  no proxy equivalent")
    }
}
