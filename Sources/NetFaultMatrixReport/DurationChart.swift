// The chart at the top of the HTML page, as SVG netfault writes itself (no script, no
// library): for each service and fault, a bar per backend of the command's duration, with
// a tick at that backend's baseline, so a suite going from 6 s to 106 s under a 10 ms delay
// stands out. Presentation attributes rather than CSS, so the SVG also stands alone.

extension MatrixReport {
    /// `<svg id="duration-chart">`: each bar `<rect class="bar kernel|proxy" data-cell="ID">`,
    /// one per kernel or proxy cell, skipped cells included (zero width).
    public func durationChartSVG() -> String { DurationChart(self).svg() }
}

struct DurationChart {
    static let title = "Duration per fault and backend, against the baseline"
    static let colours = ["kernel": "#2f6db5", "proxy": "#d9822b"]
    static let fonts = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

    struct Bar {
        var backend: String
        var cell: CellResult?
        var baseline: Double?
    }

    struct Row {
        var label: String
        var bars: [Bar]
    }

    let rows: [Row]
    let ticks: [Double]

    init(_ report: MatrixReport) {
        var order: [RowKey] = []
        var byRow: [RowKey: [CellResult]] = [:]
        for cell in report.cells {
            guard let key = cell.rowKey else { continue }
            if byRow[key] == nil { order.append(key) }
            byRow[key, default: []].append(cell)
        }
        func baseline(_ cell: CellResult) -> Double? {
            if cell.state == .skipped { return nil }
            if let seconds = cell.baselineSeconds { return seconds }
            return report.cells.first {
                $0.isBaseline && $0.backend == cell.backend && $0.kernel == cell.kernel && $0.state != .skipped
            }?.seconds
        }
        rows = order.map { key in
            let cells = byRow[key]!
            return Row(label: "\(key.service) / \(key.fault)", bars: ["kernel", "proxy"].map { backend in
                // After a merge there is one cell per backend; before, prefer one that ran.
                let mine = cells.filter { $0.backend == backend }
                let cell = mine.first { $0.state != .skipped } ?? mine.first
                return Bar(backend: backend, cell: cell, baseline: cell.flatMap(baseline))
            })
        }
        let values = rows.flatMap(\.bars).flatMap { [$0.cell?.seconds, $0.baseline] }.compactMap { $0 }
        ticks = Self.ticks(upTo: values.filter { $0.isFinite }.max() ?? 0)
    }

    /// Round values from 0 to at least `top`, about six steps of 1, 2, 2.5 or 5 times a power of ten.
    static func ticks(upTo top: Double) -> [Double] {
        guard top > 0, top.isFinite else { return [0, 0.2, 0.4, 0.6, 0.8, 1] }
        let raw = top / 6
        var magnitude = 1.0
        while magnitude * 10 <= raw { magnitude *= 10 }
        while magnitude > raw { magnitude /= 10 }
        let step = [1, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let count = Int((top / step - 1e-9).rounded(.up))
        // Rounded to a millionth: 3 × 0.2 is 0.6000000000000001.
        return (0...max(1, count)).map { (Double($0) * step * 1e6).rounded() / 1e6 }
    }

    // Geometry, in SVG user units (pixels at 100 %).
    let width = 1200.0
    let top = 72.0
    let barHeight = 16.0, barGap = 4.0, rowPadding = 10.0
    var rowHeight: Double { 2 * barHeight + barGap + 2 * rowPadding }
    let labelLimit = 34
    var labelWidth: Double {
        let longest = rows.map { min($0.label.count, labelLimit) }.max() ?? 0
        // About 7.8 units a character of 13-unit bold text, and room before the backend words.
        return max(Double(longest) * 7.8 + 16, 120)
    }
    var plotX: Double { labelWidth + 52 }
    var plotWidth: Double { width - plotX - 170 }
    var axisY: Double { top + Double(rows.count) * rowHeight }
    var height: Double { rows.isEmpty ? 110 : axisY + 48 }

    func x(_ seconds: Double) -> Double {
        let span = ticks.last ?? 1
        return plotX + plotWidth * min(max(seconds, 0), span) / span
    }

    func svg() -> String {
        var s = "<svg id=\"duration-chart\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\""
        s += " viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\""
        s += " font-family=\"\(Self.fonts)\" font-size=\"12\" fill=\"#1f2328\""
        s += " aria-labelledby=\"duration-chart-title duration-chart-desc\">\n"
        s += "<title id=\"duration-chart-title\">\(Self.title)</title>\n"
        s += "<desc id=\"duration-chart-desc\">\(Text.escaped(description))</desc>\n"
        s += "<defs><pattern id=\"failed-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\""
        s += " patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"6\" fill=\"#ffffff\" fill-opacity=\"0.55\"/>"
        s += "</pattern></defs>\n"
        s += "<text x=\"0\" y=\"22\" font-size=\"17\" font-weight=\"600\">\(Self.title)</text>\n"
        guard !rows.isEmpty else {
            s += "<text x=\"0\" y=\"64\" fill=\"#59636e\">"
            s += "No fault cells to chart: the report has only baselines, or no cells.</text>\n"
            return s + "</svg>"
        }
        s += legend()
        // Zebra bands first, then the grid, so both sit behind the bars.
        for (i, _) in rows.enumerated() where i % 2 == 1 {
            s += "<rect class=\"band\" x=\"0\" y=\"\(n(top + Double(i) * rowHeight))\" width=\"\(n(width))\""
            s += " height=\"\(n(rowHeight))\" fill=\"#f3f5f8\"/>\n"
        }
        s += axis()
        for (i, row) in rows.enumerated() { s += self.row(row, at: top + Double(i) * rowHeight) }
        return s + "</svg>"
    }

    var description: String {
        let bars = rows.flatMap(\.bars).filter { $0.cell != nil }.count
        return "\(rows.count) service and fault rows, \(bars) bars: each backend's duration in seconds, "
            + "with a tick at the same backend's baseline."
    }

    func legend() -> String {
        var s = "<g class=\"legend\" transform=\"translate(0,36)\">\n"
        var at = 0.0
        for backend in ["kernel", "proxy"] {
            s += "<rect x=\"\(n(at))\" y=\"2\" width=\"14\" height=\"14\" rx=\"2\" fill=\"\(Self.colours[backend]!)\"/>"
            s += "<text x=\"\(n(at + 20))\" y=\"13\">\(backend) backend</text>\n"
            at += 130
        }
        s += "<line x1=\"\(n(at + 7))\" y1=\"0\" x2=\"\(n(at + 7))\" y2=\"18\" "
        s += "stroke=\"#1f2328\" stroke-width=\"2.5\"/>"
        s += "<text x=\"\(n(at + 16))\" y=\"13\">baseline (no fault, same backend)</text>\n"
        at += 250
        s += "<rect x=\"\(n(at))\" y=\"2\" width=\"14\" height=\"14\" rx=\"2\" fill=\"#59636e\"/>"
        s += "<rect x=\"\(n(at))\" y=\"2\" width=\"14\" height=\"14\" rx=\"2\" fill=\"url(#failed-hatch)\"/>"
        s += "<text x=\"\(n(at + 20))\" y=\"13\">hatched: failed or error</text>\n"
        return s + "</g>\n"
    }

    func axis() -> String {
        var s = "<g class=\"axis\">\n"
        for tick in ticks {
            let tx = x(tick)
            s += "<line x1=\"\(n(tx))\" y1=\"\(n(top - 4))\" x2=\"\(n(tx))\" y2=\"\(n(axisY + 4))\""
            s += " stroke=\"\(tick == 0 ? "#8c959f" : "#d8dee4")\" stroke-width=\"1\"/>"
            s += "<text x=\"\(n(tx))\" y=\"\(n(axisY + 19))\" text-anchor=\"middle\" fill=\"#59636e\">"
            s += "\(Text.short(tick)) s</text>\n"
        }
        s += "<line x1=\"\(n(plotX))\" y1=\"\(n(axisY))\" x2=\"\(n(x(ticks.last ?? 1)))\" y2=\"\(n(axisY))\""
        s += " stroke=\"#8c959f\" stroke-width=\"1\"/>\n"
        s += "<text x=\"\(n(plotX + plotWidth / 2))\" y=\"\(n(axisY + 40))\" text-anchor=\"middle\" fill=\"#59636e\">"
        s += "seconds the command took</text>\n"
        return s + "</g>\n"
    }

    func row(_ row: Row, at y: Double) -> String {
        var s = "<g class=\"row\">\n"
        let label = Text.escaped(Text.truncated(Text.oneLine(row.label), to: labelLimit))
        s += "<text x=\"0\" y=\"\(n(y + rowHeight / 2 + 4))\""
        s += " font-size=\"13\" font-weight=\"600\">\(label)<title>\(Text.escaped(row.label))</title></text>\n"
        for (i, bar) in row.bars.enumerated() {
            let barY = y + rowPadding + Double(i) * (barHeight + barGap)
            s += "<text x=\"\(n(plotX - 8))\" y=\"\(n(barY + 12))\" text-anchor=\"end\" font-size=\"11\""
            s += " fill=\"#59636e\">\(bar.backend)</text>\n"
            s += self.bar(bar, y: barY)
        }
        return s + "</g>\n"
    }

    func bar(_ bar: Bar, y: Double) -> String {
        guard let cell = bar.cell else {
            let at = "x=\"\(n(plotX + 6))\" y=\"\(n(y + 12))\""
            return "<text \(at) fill=\"#59636e\" font-style=\"italic\">no \(bar.backend) cell</text>\n"
        }
        let colour = Self.colours[bar.backend] ?? "#59636e"
        let seconds = cell.state == .skipped ? nil : cell.seconds.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        var barWidth = seconds.map { x($0) - plotX } ?? 0
        if let seconds, seconds > 0 { barWidth = max(barWidth, 1.5) }
        let id = Text.attribute(cell.id)
        // A bar links to its cell's row in the table below (a fragment: nothing is fetched).
        var s = "<a href=\"#cell-\(Text.attribute(HTMLPage.anchor(cell.id)))\">"
        s += "<rect class=\"bar \(Text.attribute(bar.backend)) \(cell.state.rawValue)\" data-cell=\"\(id)\""
        s += " x=\"\(n(plotX))\" y=\"\(n(y))\" width=\"\(n(barWidth))\" height=\"\(n(barHeight))\" rx=\"2\""
        s += " fill=\"\(colour)\"><title>\(Text.escaped(tooltip(cell, baseline: bar.baseline)))</title></rect>\n"
        if cell.state == .failed || cell.state == .error, barWidth > 0 {
            s += "<rect class=\"hatch\" x=\"\(n(plotX))\" y=\"\(n(y))\" width=\"\(n(barWidth))\""
            s += " height=\"\(n(barHeight))\" rx=\"2\" fill=\"url(#failed-hatch)\" pointer-events=\"none\"/>\n"
        }
        s += "</a>\n"
        if let baseline = bar.baseline, baseline.isFinite {
            let bx = x(baseline)
            s += "<line class=\"baseline \(Text.attribute(bar.backend))\" x1=\"\(n(bx))\" y1=\"\(n(y - 3))\""
            s += " x2=\"\(n(bx))\" y2=\"\(n(y + barHeight + 3))\" stroke=\"#1f2328\" stroke-width=\"2.5\">"
            s += "<title>\(bar.backend) baseline \(Text.fixed(baseline, 2)) s</title></line>\n"
        }
        let (words, attributes) = label(cell, seconds: seconds)
        // After the bar, or after the baseline tick where that is further: never on top of it.
        let tick = bar.baseline.map { x($0) - plotX + 2 } ?? 0
        s += "<text class=\"bar-label\" x=\"\(n(plotX + max(barWidth, tick) + 6))\" y=\"\(n(y + 12))\"\(attributes)>"
        s += "\(Text.escaped(words))</text>\n"
        return s
    }

    /// The words after a bar, and how they are set: failures in red and bold, skips grey.
    func label(_ cell: CellResult, seconds: Double?) -> (String, String) {
        let time = seconds.map { Text.fixed($0, 2) + " s" }
        switch cell.state {
        case .passed:
            let growth = cell.growthSeconds.map { " (" + Text.signedSeconds($0).dropLast() + " s)" } ?? ""
            return ((time ?? "passed, no time") + growth, "")
        case .failed, .error:
            let words = [time, cell.state.rawValue].compactMap { $0 }.joined(separator: " · ")
            return (words, " fill=\"#b42318\" font-weight=\"600\"")
        case .skipped:
            let why = cell.reason.map { ": " + Text.truncated(Text.oneLine($0), to: 32) } ?? ""
            return ("skipped" + why, " fill=\"#59636e\" font-style=\"italic\"")
        }
    }

    func tooltip(_ cell: CellResult, baseline: Double?) -> String {
        var parts = ["\(cell.id): \(cell.outcome)"]
        if let seconds = cell.seconds { parts.append("\(Text.fixed(seconds, 2)) s") }
        if let baseline { parts.append("baseline \(Text.fixed(baseline, 2)) s") }
        if let reason = cell.reason { parts.append(reason) }
        return parts.joined(separator: ", ")
    }

    private func n(_ value: Double) -> String { Text.short((value * 10).rounded() / 10) }
}
