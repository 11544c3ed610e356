// The report for a terminal: a table at the end of a run and a line per cell as it finishes.
// No colours: the output is often a CI log or a file.

extension MatrixReport {
    /// Aligned columns, a cell a row, then a line of counts.
    public func table() -> String {
        let header = ["cell", "outcome", "seconds", "baseline", "growth", "conns peak/final", "packets", "recovery"]
        let numeric: Set<Int> = [2, 3, 4, 6]
        let rows = cells.map { cell in
            [
                Text.oneLine(cell.id), Text.truncated(cell.outcomeInWords, to: 60), Text.seconds(cell.seconds),
                Text.seconds(cell.baselineSeconds), Text.signedSeconds(cell.growthSeconds),
                cell.connectionsInWords, cell.packetsMatched.map(String.init) ?? "-", cell.recoveryInWords,
            ]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ row: [String]) -> String {
            let padded = row.indices.map { column in
                let gap = String(repeating: " ", count: widths[column] - row[column].count)
                return numeric.contains(column) ? gap + row[column] : row[column] + gap
            }
            return String(padded.joined(separator: " | ").reversed().drop(while: { $0 == " " }).reversed())
        }
        var lines = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")]
        lines += rows.map(line)
        lines.append(summaryLine)
        return lines.joined(separator: "\n") + "\n"
    }

    /// "22 cells: 15 passed, 3 failed, 2 skipped, 2 errors; recovery failed 1 of 18; 1 disagreement".
    public var summaryLine: String {
        let c = counts
        var text = "\(c.cells) \(c.cells == 1 ? "cell" : "cells"): \(c.passed) passed, \(c.failed) failed, "
        text += "\(c.skipped) skipped, \(c.errors) \(c.errors == 1 ? "error" : "errors")"
        if c.recoveries > 0 { text += "; recovery failed \(c.recoveriesFailed) of \(c.recoveries)" }
        text += "; \(disagreements.count) \(disagreements.count == 1 ? "disagreement" : "disagreements")"
        return text
    }
}

extension CellResult {
    /// The line printed when a cell finishes:
    /// `[ 3/22] mysql/delay-10ms/kernel   passed   8.51s (+2.40s)  recovery ok`; the state
    /// in a column of its own and the outcome's detail last, so the lines of a run line up.
    public func progressLine(index: Int, total: Int) -> String {
        let width = String(total).count
        let number = String(index)
        var line = "[" + String(repeating: " ", count: max(0, width - number.count)) + number + "/\(total)] "
        line += pad(Text.oneLine(id), 32) + " " + pad(state.rawValue, 7)
        if let seconds {
            let text = Text.seconds(seconds)
            line += " " + String(repeating: " ", count: max(0, 8 - text.count)) + text
            if let growth = growthSeconds { line += " (" + Text.signedSeconds(growth) + ")" }
        }
        if let recovery { line += "  recovery " + (recovery.passed ? "ok" : "FAILED") }
        let detail = Text.oneLine(state == .skipped || state == .error ? reason ?? outcome : outcome)
        if detail != state.rawValue && !detail.isEmpty { line += "  " + detail }
        return line
    }

    /// The outcome column: the state first ("failed: timed out after 120s"), then the detail.
    var outcomeInWords: String {
        let detail = outcomeDetail
        if detail.isEmpty { return state.rawValue }
        return detail.hasPrefix(state.rawValue) ? detail : "\(state.rawValue): \(detail)"
    }

    /// The runner's words, with the reason for a skip or an error; without a bare state word,
    /// which the HTML page shows as a badge.
    var outcomeDetail: String {
        var words = Text.oneLine(outcome)
        if words == state.rawValue { words = "" }
        guard state == .skipped || state == .error, let reason else { return words }
        let why = Text.oneLine(reason)
        return words.isEmpty || words == why ? why : "\(words): \(why)"
    }

    /// "mysql 2/1, redis 0/0".
    var connectionsInWords: String {
        connections.isEmpty ? "-" : connections.map { "\(Text.oneLine($0.service)) \($0.peak)/\($0.final)" }
            .joined(separator: ", ")
    }

    var recoveryInWords: String { recovery.map { $0.passed ? "ok" : "FAILED" } ?? "-" }
}

private func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
