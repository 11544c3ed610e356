import FoundationEssentials

// Where the two backends tell different stories about one fault, and how runs on different
// kernels become one report (e.g. delay cells skipped on a kernel without netem, then run in
// user-mode Linux).

extension MatrixReport {
    /// Every service and fault with a kernel and a proxy cell, neither skipped, that did not
    /// end alike (`endedLike`); in the order the rows first appear. A row with several cells of one backend
    /// (unmerged reports) compares the first of each that ran.
    public static func findDisagreements(_ cells: [CellResult]) -> [Disagreement] {
        var kernel: [RowKey: CellResult] = [:], proxy: [RowKey: CellResult] = [:]
        var order: [RowKey] = []
        for cell in cells where cell.state != .skipped {
            guard let key = cell.rowKey else { continue }
            if kernel[key] == nil && proxy[key] == nil { order.append(key) }
            if cell.backend == "kernel", kernel[key] == nil { kernel[key] = cell }
            if cell.backend == "proxy", proxy[key] == nil { proxy[key] = cell }
        }
        return order.compactMap { key in
            guard let k = kernel[key], let p = proxy[key], !k.endedLike(p) else { return nil }
            return Disagreement(service: key.service, fault: key.fault, kernel: k.outcome, proxy: p.outcome)
        }
    }

    /// One report from several runs of the same scenario. Cells are keyed by id:
    /// - a cell that ran replaces a skipped one, in the skipped one's place;
    /// - of two that ran, the later replaces the earlier (a rerun with `--only`), except
    ///   baselines from different kernels: both stay, the later one's id gaining " (KERNEL)",
    ///   since the fault cells of each kernel were measured against their own;
    /// - a skipped cell replaces only a skipped one: the later run tried it on a kernel that had
    ///   more, so its reason is the one that holds (a row that needs netem and nf_tables at once
    ///   is skipped for lack of netem first, then as unsupported where netem is but nf_tables not).
    /// Order: the first report's, new ids appended. Scenario from the first report, the
    /// earliest start, disagreements found again.
    public static func merged(_ reports: [MatrixReport]) -> MatrixReport {
        var cells: [CellResult] = []
        var index: [String: Int] = [:]
        func put(_ cell: CellResult) {
            guard let i = index[cell.id] else {
                index[cell.id] = cells.count
                cells.append(cell)
                return
            }
            let old = cells[i]
            if cell.state == .skipped && old.state != .skipped { return }
            if old.state == .skipped || !cell.isBaseline || old.kernel == cell.kernel {
                cells[i] = cell
                return
            }
            var renamed = cell
            renamed.id = "\(cell.id) (\(cell.kernel))"
            if renamed.id != cell.id { put(renamed) }
        }
        for report in reports { report.cells.forEach(put) }
        let starts = reports.map(\.started).filter { !$0.isEmpty }
        return MatrixReport(
            scenario: reports.first?.scenario ?? "",
            started: starts.min(by: { Self.instant($0) < Self.instant($1) }) ?? "",
            cells: cells,
            disagreements: findDisagreements(cells))
    }

    /// RFC 3339 text as a time, to compare "…02:00:00Z" with "…02:00:00.5Z" (which sorts before it
    /// as text); text that does not parse sorts by itself after every time that does.
    static func instant(_ text: String) -> Instant {
        if let date = try? Date(text, strategy: .iso8601) { return Instant(date: date, text: text) }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) {
            return Instant(date: date, text: text)
        }
        return Instant(date: nil, text: text)
    }

    struct Instant: Comparable {
        var date: Date?
        var text: String
        static func < (a: Instant, b: Instant) -> Bool {
            switch (a.date, b.date) {
            case let (x?, y?): return x != y ? x < y : a.text < b.text
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return a.text < b.text
            }
        }
    }
}

/// A service and fault: one row of the chart, one line of the disagreements.
struct RowKey: Hashable {
    var service: String
    var fault: String
}

extension CellResult {
    /// nil for a baseline.
    var rowKey: RowKey? {
        guard let service else { return nil }
        return RowKey(service: service, fault: fault ?? "")
    }
}
