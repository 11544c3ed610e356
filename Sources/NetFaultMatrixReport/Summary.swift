// Counts and lists every writer's summary shows.

public struct MatrixCounts: Sendable, Equatable {
    public var cells = 0, passed = 0, failed = 0, skipped = 0, errors = 0
    /// Recovery checks that ran, and those that failed.
    public var recoveries = 0, recoveriesFailed = 0

    public init(_ cells: [CellResult]) {
        for cell in cells {
            self.cells += 1
            switch cell.state {
            case .passed: passed += 1
            case .failed: failed += 1
            case .skipped: skipped += 1
            case .error: errors += 1
            }
            if let recovery = cell.recovery {
                recoveries += 1
                if !recovery.passed { recoveriesFailed += 1 }
            }
        }
    }
}

extension MatrixReport {
    public var counts: MatrixCounts { MatrixCounts(cells) }

    /// Each kernel once, in the order cells name them.
    public var kernels: [String] { distinct(cells.map(\.kernel).filter { !$0.isEmpty }) }

    /// "kernel" and "proxy" always (a suite per backend even when one ran nothing), then any other.
    var backends: [String] { distinct(["kernel", "proxy"] + cells.map(\.backend)) }
}

func distinct(_ items: [String]) -> [String] {
    var seen = Set<String>()
    return items.filter { seen.insert($0).inserted }
}
