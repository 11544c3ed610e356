// The report as one HTML page a person reads: no script and nothing fetched (it is opened
// from CI artifacts, often offline), every state in words as well as colour. Written as
// well-formed XML too (polyglot), so the tests can check its structure with an XML parser.

extension MatrixReport {
    public func html() -> String {
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        // Nothing but the inline style may load, whatever a cell's output holds.
        h += "<meta http-equiv=\"Content-Security-Policy\" "
        h += "content=\"default-src 'none'; style-src 'unsafe-inline'\"/>\n"
        h += "<title>netfault matrix: \(Text.escaped(scenario))</title>\n"
        h += "<style>\(HTMLPage.style)</style>\n</head>\n<body>\n"
        h += header() + summary() + disagreementsSection()
        h += "<section id=\"chart\">\n\(durationChartSVG())\n</section>\n"
        h += cellsTable()
        return h + "</body>\n</html>\n"
    }

    private func header() -> String {
        var h = "<header>\n<h1>netfault matrix: \(Text.escaped(scenario))</h1>\n<p class=\"meta\">"
        h += "Started <time>\(Text.escaped(started))</time>"
        let kernels = self.kernels
        h += kernels.isEmpty ? "" : " · \(kernels.count == 1 ? "kernel" : "kernels") "
            + kernels.map { "<code>\(Text.escaped($0))</code>" }.joined(separator: ", ")
        return h + "</p>\n</header>\n"
    }

    private func summary() -> String {
        let c = counts
        var items = [
            ("cells", c.cells, "total"), ("passed", c.passed, "passed"), ("failed", c.failed, "failed"),
            ("skipped", c.skipped, "skipped"), (c.errors == 1 ? "error" : "errors", c.errors, "error"),
        ]
        if c.recoveries > 0 {
            let label = "of \(c.recoveries) recovery \(c.recoveries == 1 ? "check" : "checks") failed"
            items.append((label, c.recoveriesFailed, c.recoveriesFailed > 0 ? "failed" : "passed"))
        }
        items.append((disagreements.count == 1 ? "disagreement" : "disagreements", disagreements.count,
                      disagreements.isEmpty ? "passed" : "disagree"))
        var h = "<section id=\"summary\">\n<h2>Summary</h2>\n<ul class=\"counts\">\n"
        for (words, count, state) in items {
            h += "<li class=\"count \(state)\"><span class=\"n\">\(count)</span> \(Text.escaped(words))</li>\n"
        }
        return h + "</ul>\n</section>\n"
    }

    private func disagreementsSection() -> String {
        var h = "<section id=\"disagreements\">\n<h2>Disagreements between the kernel and proxy backends</h2>\n"
        guard !disagreements.isEmpty else {
            return h + "<p class=\"none\">None: every service and fault that ran through both backends "
                + "ended the same way.</p>\n</section>\n"
        }
        h += "<ul class=\"disagreements\">\n"
        for d in disagreements {
            let row = cells.first { $0.service == d.service && $0.fault == d.fault && $0.state != .skipped }
            let href = row.map { " href=\"#cell-\(Text.attribute(HTMLPage.anchor($0.id)))\"" } ?? ""
            h += "<li><a\(href)><strong>\(Text.escaped(d.service)) / \(Text.escaped(d.fault))</strong></a>: "
            h += "kernel <q class=\"outcome\">\(Text.escaped(d.kernel))</q> "
            h += "vs proxy <q class=\"outcome\">\(Text.escaped(d.proxy))</q></li>\n"
        }
        return h + "</ul>\n</section>\n"
    }

    private func cellsTable() -> String {
        let columns = [
            "Service", "Fault", "Backend", "Outcome", "Seconds", "Baseline", "Growth", "Expected growth",
            "Connections peak/final", "Packets matched", "Recovery", "Kernel", "Randomness",
        ]
        var h = "<section id=\"cells\">\n<h2>Cells</h2>\n<table>\n<thead><tr>"
        h += columns.map { "<th scope=\"col\">\(Text.escaped($0))</th>" }.joined()
        h += "</tr></thead>\n"
        for cell in cells { h += HTMLPage.rows(cell, columns: columns.count) }
        return h + "</table>\n</section>\n"
    }
}

enum HTMLPage {
    static let marks: [CellState: String] = [.passed: "✓", .failed: "✗", .skipped: "–", .error: "!"]

    /// A cell as a <tbody> of two rows, its figures and its details, so zebra striping counts cells.
    static func rows(_ cell: CellResult, columns: Int) -> String {
        let e = Text.escaped
        let state = cell.state.rawValue
        var h = "<tbody class=\"cell \(state)\" id=\"cell-\(Text.attribute(anchor(cell.id)))\">\n<tr>"
        h += "<td class=\"service\">\(cell.service.map { e($0) } ?? "<em>baseline</em>")</td>"
        h += "<td>\(cell.fault.map { e($0) } ?? "–")</td>"
        h += "<td><span class=\"backend \(Text.attribute(cell.backend))\">\(e(cell.backend))</span></td>"
        h += "<td class=\"outcome\"><span class=\"state \(state)\">\(marks[cell.state]!) \(state)</span>"
        let words = cell.outcomeDetail
        if !words.isEmpty { h += " <span class=\"words\">\(e(words))</span>" }
        h += "</td>"
        h += number(cell.seconds.map { Text.fixed($0, 2) + " s" })
        h += number(cell.baselineSeconds.map { Text.fixed($0, 2) + " s" })
        h += number(cell.growthSeconds.map { Text.signedSeconds($0).dropLast() + " s" })
        var expected = cell.expectedGrowthSeconds.map { Text.fixed($0, 2) + " s" }
        if let growth = cell.growthSeconds, let e = cell.expectedGrowthSeconds, e > 0 {
            expected! += " (×\(Text.fixed(growth / e, 2)))"
        }
        h += number(expected)
        h += "<td>" + (cell.connections.isEmpty ? "–" : cell.connections.map {
            "\(e($0.service)) \($0.peak)/\($0.final)"
        }.joined(separator: "<br/>")) + "</td>"
        h += number(cell.packetsMatched.map(String.init))
        h += "<td>" + (cell.recovery.map {
            $0.passed ? "<span class=\"state passed\">✓ passed</span>" : "<span class=\"state failed\">✗ failed</span>"
        } ?? "–") + "</td>"
        h += "<td class=\"kernel\"><code>\(e(cell.kernel))</code></td><td>\(e(cell.randomness))</td></tr>\n"
        h += "<tr class=\"more\"><td colspan=\"\(columns)\"><details>"
        h += "<summary>Output, notes, metrics and rerun command of <code>\(e(cell.id))</code></summary>\n"
        h += "<div class=\"details\">\n" + details(cell) + "</div></details></td></tr>\n"
        return h + "</tbody>\n"
    }

    static func details(_ cell: CellResult) -> String {
        let e = Text.escaped
        var h = "<h3>Run it again</h3>\n<pre class=\"command\">\(e(cell.rerun))</pre>\n"
        if !cell.faultWords.isEmpty {
            h += "<h3>Fault</h3>\n<p><code>\(e(cell.faultWords.joined(separator: " ")))</code>"
            h += cell.schedule.map { ", \(e($0))" } ?? ", for the whole run"
            h += "</p>\n"
        }
        if let reason = cell.reason { h += "<h3>Reason</h3>\n<p>\(e(reason))</p>\n" }
        if let status = cell.exitStatus { h += "<p>Exit status <code>\(status)</code></p>\n" }
        if !cell.notes.isEmpty {
            h += "<h3>Notes</h3>\n<ul>\n" + cell.notes.map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n"
        }
        if !cell.metrics.isEmpty {
            h += "<h3>Metrics</h3>\n<table class=\"small\"><tbody>\n"
            for key in cell.metrics.keys.sorted() {
                h += "<tr><th scope=\"row\"><code>\(e(key))</code></th>"
                h += "<td class=\"num\">\(Text.short(cell.metrics[key]!))</td></tr>\n"
            }
            h += "</tbody></table>\n"
        }
        if !cell.connections.isEmpty {
            h += "<h3>Connections</h3>\n<table class=\"small\"><thead><tr><th>Service</th><th>Port</th><th>Peak</th>"
            h += "<th>Final</th><th>Peak established</th><th>Peak connecting</th><th>Samples</th></tr></thead><tbody>\n"
            for c in cell.connections {
                let numbers = [Int(c.port), c.peak, c.final, c.peakEstablished, c.peakConnecting, c.samples]
                h += "<tr><td>\(e(c.service))</td>"
                h += numbers.map { "<td class=\"num\">\($0)</td>" }.joined() + "</tr>\n"
            }
            h += "</tbody></table>\n"
        }
        let output = cell.outputTail.isEmpty ? "<em>none</em>" : e(cell.outputTail)
        h += "<h3>Output (last lines)</h3>\n<pre class=\"output\">\(output)</pre>\n"
        if let r = cell.recovery {
            h += "<h3>Recovery: \(r.passed ? "✓ passed" : "✗ failed")</h3>\n<p><code>\(e(r.command))</code>"
            h += r.exitStatus.map { ", exit status \($0)" } ?? ""
            h += r.seconds.map { ", \(Text.fixed($0, 2)) s" } ?? ""
            h += "</p>\n<pre class=\"output\">\(r.outputTail.isEmpty ? "<em>none</em>" : e(r.outputTail))</pre>\n"
        }
        return h
    }

    static func number(_ text: String?) -> String { "<td class=\"num\">\(text.map(Text.escaped) ?? "–")</td>" }

    /// An id attribute from a cell id: letters, digits, '-', '_', '.' kept, anything else '-'.
    static func anchor(_ id: String) -> String {
        String(id.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "-" })
    }

    // No '<' or '&' in here: the page is also XML.
    static let style = """

    :root { --passed: #1a7f37; --failed: #b42318; --skipped: #59636e; --error: #8a4600; --disagree: #8250df;
      --line: #d8dee4; --muted: #59636e; --zebra: #f6f8fa; }
    * { box-sizing: border-box; }
    body { margin: 0 auto; padding: 24px 32px 48px; max-width: 1500px; color: #1f2328; background: #fff;
      font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
    code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
      font-size: 12.5px; }
    h1 { font-size: 24px; margin: 0 0 4px; }
    h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
    h3 { font-size: 13px; margin: 14px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
    .meta { color: var(--muted); margin: 0; }
    .counts { display: flex; flex-wrap: wrap; gap: 10px; list-style: none; padding: 0; margin: 0; }
    .count { border: 1px solid var(--line); border-left: 5px solid var(--muted); border-radius: 6px; padding: 8px 14px;
      min-width: 110px; }
    .count .n { display: block; font-size: 24px; font-weight: 600; line-height: 1.2; }
    .count.passed { border-left-color: var(--passed); } .count.failed { border-left-color: var(--failed); }
    .count.skipped { border-left-color: var(--skipped); } .count.error { border-left-color: var(--error); }
    .count.disagree { border-left-color: var(--disagree); }
    .disagreements li { margin: 4px 0; }
    a { color: inherit; }
    tbody.cell:target { outline: 2px solid #2f6db5; outline-offset: -2px; }
    .none { color: var(--passed); }
    q.outcome { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
    #chart { margin-top: 28px; overflow-x: auto; }
    #chart svg { max-width: 100%; height: auto; }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; vertical-align: top; padding: 6px 8px; }
    thead th { position: sticky; top: 0; background: #eaeef2; border-bottom: 2px solid var(--line); font-size: 12.5px; }
    tbody.cell:nth-of-type(even) { background: var(--zebra); }
    tbody.cell > tr:first-child > td { border-top: 1px solid var(--line); }
    tbody.cell > tr:first-child > td:first-child { border-left: 4px solid var(--muted); }
    tbody.passed > tr:first-child > td:first-child { border-left-color: var(--passed); }
    tbody.failed > tr:first-child > td:first-child { border-left-color: var(--failed); }
    tbody.error > tr:first-child > td:first-child { border-left-color: var(--error); }
    td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
    td.service { font-weight: 600; min-width: 8em; }
    td.kernel { white-space: nowrap; }
    td.outcome { min-width: 12em; }
    #cells { overflow-x: auto; }
    tr.more td { padding-top: 0; }
    .state { display: inline-block; font-weight: 600; border-radius: 10px; padding: 0 8px; font-size: 12.5px;
      color: #fff; white-space: nowrap; }
    .state.passed { background: var(--passed); } .state.failed { background: var(--failed); }
    .state.skipped { background: var(--skipped); } .state.error { background: var(--error); }
    .words { display: block; margin-top: 2px; }
    .backend { font-weight: 600; padding-left: 16px; position: relative; }
    .backend::before { content: ""; position: absolute; left: 0; top: 4px; width: 11px; height: 11px;
      border-radius: 2px; background: var(--muted); }
    .backend.kernel::before { background: #2f6db5; } .backend.proxy::before { background: #d9822b; }
    details summary { cursor: pointer; color: var(--muted); font-size: 12.5px; }
    details[open] summary { margin-bottom: 4px; }
    .details { border-left: 3px solid var(--line); padding: 0 0 4px 14px; margin: 0 0 8px 4px; }
    pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; margin: 0; }
    tbody.cell:nth-of-type(even) pre { background: #fff; }
    table.small { width: auto; } table.small td, table.small th { padding: 2px 10px 2px 0; border: 0; }
    @media print { thead th { position: static; } details { display: block; } }

    """
}
