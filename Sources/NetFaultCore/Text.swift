import Glibc

/// Text helpers that FoundationEssentials lacks. The binary links FoundationEssentials only:
/// full Foundation brings ICU, which made every netfault process start several times slower.
extension StringProtocol {
    /// Without leading and trailing spaces, tabs and newlines.
    public var trimmed: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }) else { return "" }
        let last = lastIndex(where: { !$0.isWhitespace })!
        return String(self[first...last])
    }
}

extension BinaryInteger {
    /// In base `radix`, left-padded with zeros to `width` digits: String(format: "%06x").
    public func padded(_ width: Int, radix: Int = 10) -> String {
        let digits = String(self, radix: radix)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

extension Double {
    /// With `digits` decimals: String(format: "%.1f") for digits 1.
    public func fixed(_ digits: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([self]) { vsnprintf(&buffer, buffer.count, "%.\(digits)f", $0) }
        return String(cString: buffer)
    }
}

extension Array where Element == String {
    /// "a", "a and b", "a, b and c".
    public var listed: String {
        count < 2 ? joined() : dropLast().joined(separator: ", ") + " and " + last!
    }
}
