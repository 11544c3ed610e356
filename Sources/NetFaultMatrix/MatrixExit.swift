import NetFaultMatrixReport

/// netfault matrix's exit status from the cells it ran (cells merged by --include do not count).
public enum MatrixExit {
    /// Every cell ran and every recovery check passed.
    public static let success: Int32 = 0
    /// A recovery check failed, or netfault could not put a fault in or take it out.
    public static let cellError: Int32 = 1
    /// A baseline failed (or timed out), so the cells of its backend could not run: there was
    /// nothing to compare them with. The matrix says nothing about the application then.
    public static let baselineFailed: Int32 = 2

    /// The status and one line per cell that caused it. A failed baseline wins over a cell's
    /// error: whatever else happened, that backend's row is empty.
    public static func status(_ cells: [CellResult]) -> (status: Int32, problems: [String]) {
        let baselines = cells.filter { $0.fault == nil && $0.state != .passed }
        if !baselines.isEmpty {
            let skipped = cells.filter { c in
                c.fault != nil && c.state == .skipped && baselines.contains { $0.backend == c.backend }
            }
            let lines = baselines.map { b in
                let how = b.outcome.isEmpty ? b.state.rawValue : b.outcome
                let count = skipped.filter { $0.backend == b.backend }.count
                return "\(b.id) did not pass (\(how)): its backend's \(count) fault cells could not run"
            }
            return (baselineFailed, lines)
        }
        let bad = cells.filter { $0.state == .error || $0.recovery?.passed == false }
        let lines = bad.map { c in
            "\(c.id): \(c.state == .error ? "error: \(c.reason ?? "")" : "the recovery check failed")"
        }
        return (bad.isEmpty ? success : cellError, lines)
    }
}
