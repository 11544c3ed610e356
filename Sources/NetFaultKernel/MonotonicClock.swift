import FoundationEssentials
import Glibc
import NetFaultCore

/// CLOCK_MONOTONIC, the clock nf_tables expires set elements by: no `date -s`, NTP step or
/// suspend moves a lease's deadline on it. Its readings mean something only within one boot.
public enum MonotonicClock {
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// This boot's id (/proc/sys/kernel/random/boot_id), which tells whether a recorded reading
    /// is of this boot's clock.
    public static let bootID: String? =
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)).map { $0.trimmed }
}
