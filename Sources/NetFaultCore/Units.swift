import FoundationEssentials
import Glibc

/// A span of time, in nanoseconds. Parsed from `100ms`, `250us`, `1.5s`, `2m`, `1h`.
public struct Duration: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static func milliseconds(_ ms: Int64) -> Duration { Duration(nanoseconds: ms * 1_000_000) }
    public static func seconds(_ s: Int64) -> Duration { Duration(nanoseconds: s * 1_000_000_000) }
    public static let zero = Duration(nanoseconds: 0)
    public var microseconds: Int64 { nanoseconds / 1_000 }
    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public static func < (a: Duration, b: Duration) -> Bool { a.nanoseconds < b.nanoseconds }

    private static let units: [(suffix: String, ns: Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)
    ]

    /// Parses a duration; `what` names the option in the error message.
    public static func parse(_ text: String, what: String) throws -> Duration {
        let t = text.trimmed.lowercased()
        // Longest suffix first so "ms" wins over "s" and "m".
        for (suffix, scale) in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where t.hasSuffix(suffix) {
            let number = String(t.dropLast(suffix.count))
            guard let value = Double(number), value.isFinite, !number.hasPrefix("+") else { break }
            guard value >= 0 else {
                throw InputError("\(what) '\(text)' is negative; give a duration such as 100ms")
            }
            let ns = value * scale
            guard ns < 9.2e18 else { throw InputError("\(what) '\(text)' is too large") }
            return Duration(nanoseconds: Int64(ns.rounded()))
        }
        throw InputError("\(what) '\(text)' is not a duration; use a number with us, ms, s, m or h (e.g. 100ms)")
    }

    public var description: String {
        let ns = nanoseconds
        if ns == 0 { return "0ms" }
        if ns % 3_600_000_000_000 == 0 { return "\(ns / 3_600_000_000_000)h" }
        if ns % 60_000_000_000 == 0 && ns >= 60_000_000_000 { return "\(ns / 60_000_000_000)m" }
        if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
        if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
        if ns % 1_000 == 0 { return "\(ns / 1_000)us" }
        return "\(ns)ns"
    }
}

/// A percentage 0...100, kept as given so it prints back the way the user wrote it.
public struct Percent: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let value: Double
    public init(_ value: Double) { self.value = value }
    public var fraction: Double { value / 100 }
    public static func < (a: Percent, b: Percent) -> Bool { a.value < b.value }

    public static func parse(_ text: String, what: String) throws -> Percent {
        var t = text.trimmed
        if t.hasSuffix("%") { t.removeLast() }
        guard let v = Double(t), v.isFinite, !t.hasPrefix("+") else {
            throw InputError("\(what) '\(text)' is not a percentage; give a number from 0 to 100, e.g. 5%")
        }
        guard v >= 0, v <= 100 else {
            throw InputError("\(what) '\(text)' is out of range; a percentage must be from 0% to 100%")
        }
        return Percent(v)
    }

    public var description: String {
        value == value.rounded() ? "\(Int(value))%" : "\(value)%"
    }
}

/// A data rate in bits per second. Parsed like tc: `500kbit`, `1mbit`, `1gbit`, `100bit`,
/// and byte rates `kbps`/`mbps` (bytes, as in tc).
public struct Rate: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let bitsPerSecond: UInt64
    public init(bitsPerSecond: UInt64) { self.bitsPerSecond = bitsPerSecond }
    public var bytesPerSecond: UInt64 { bitsPerSecond / 8 }
    public static func < (a: Rate, b: Rate) -> Bool { a.bitsPerSecond < b.bitsPerSecond }

    private static let units: [(suffix: String, bits: Double)] = [
        ("tbit", 1e12), ("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1),
        ("tbps", 8e12), ("gbps", 8e9), ("mbps", 8e6), ("kbps", 8e3), ("bps", 8)
    ]

    public static func parse(_ text: String, what: String = "--rate") throws -> Rate {
        let t = text.trimmed.lowercased()
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            let number = String(t.dropLast(suffix.count))
            guard let v = Double(number), v.isFinite, !number.hasPrefix("+") else { break }
            let bits = v * scale
            guard bits >= 8 else {
                throw InputError("\(what) '\(text)' is too small; the least rate is 8bit (one byte a second)")
            }
            guard bits <= 1e14 else { throw InputError("\(what) '\(text)' is too large; the most is 100tbit") }
            return Rate(bitsPerSecond: UInt64(bits.rounded()))
        }
        throw InputError(
            "\(what) '\(text)' is not a rate; use kbit, mbit or gbit (bits) or kbps, mbps (bytes), e.g. 1mbit")
    }

    public var description: String {
        let b = bitsPerSecond
        for (suffix, scale) in [("gbit", UInt64(1_000_000_000)), ("mbit", 1_000_000), ("kbit", 1_000)]
        where b >= scale && b % scale == 0 {
            return "\(b / scale)\(suffix)"
        }
        return "\(b)bit"
    }
}
