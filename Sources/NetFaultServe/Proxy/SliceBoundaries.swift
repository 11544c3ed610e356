/// Where the slicer toxic cuts a chunk: Toxiproxy halves a chunk (moving the cut by up to
/// ±sizeVariation) until each piece is within sizeVariation of averageSize.
///
/// Returns the piece lengths, in order, summing to `length`. An average below 1 is taken as 1
/// (Toxiproxy recurses forever there), and a cut never leaves an empty piece.
func sliceLengths(
    of length: Int, averageSize: Int64, sizeVariation: Int64,
    random: (Range<Int>) -> Int = { Int.random(in: $0) }
) -> [Int] {
    let average = Int(clamping: max(1, averageSize))
    let variation = Int(clamping: max(0, sizeVariation))
    var lengths: [Int] = []
    // Depth-first over [start, end) ranges, left half first, so pieces come out in order.
    var pending: [(start: Int, end: Int)] = [(0, length)]
    while let (start, end) = pending.popLast() {
        let size = end - start
        if size - average <= variation || size < 2 {
            if size > 0 { lengths.append(size) }
            continue
        }
        var mid = start + size / 2
        if variation > 0 { mid += random(-variation..<variation) }
        mid = min(max(mid, start + 1), end - 1)
        pending.append((mid, end))
        pending.append((start, mid))
    }
    return lengths
}
