import FoundationEssentials
import Glibc
import NetFaultCore

/// The one place where typed units become the numbers the kernel's tc interfaces take.
public enum KernelUnits {
    /// psched ticks per microsecond, as /proc/net/psched reports on every kernel since 2.6.x
    /// (t2us 1000, us2t 64, clock resolution 1e6: 15.625 ticks/us; tc computes the same).
    public static let ticksPerMicrosecond = 15.625

    /// netem's 32-bit tick fields; values that do not fit saturate (validation keeps delays far below).
    public static func ticks(_ d: Duration) -> UInt32 {
        let t = (Double(d.nanoseconds) / 1000 * ticksPerMicrosecond).rounded(.down)
        return t >= Double(UInt32.max) ? UInt32.max : UInt32(t)
    }

    public static func duration(ticks: UInt32) -> Duration {
        Duration(nanoseconds: Int64((Double(ticks) / ticksPerMicrosecond * 1000).rounded()))
    }

    /// netem probabilities: a fraction of UINT32_MAX, rounded like iproute2's rint().
    public static func probability(_ p: Percent) -> UInt32 {
        let v = (p.fraction * Double(UInt32.max)).rounded(.toNearestOrEven)
        return v >= Double(UInt32.max) ? UInt32.max : UInt32(v)
    }

    public static func percent(probability: UInt32) -> Percent {
        // Round to the precision a user can type (1e-6 %), so 5% reads back as 5%.
        let v = Double(probability) / Double(UInt32.max) * 100
        return Percent((v * 1_000_000).rounded() / 1_000_000)
    }

    /// netem's rate is in bytes per second.
    public static func rateBytes(_ r: Rate) -> UInt64 { r.bitsPerSecond / 8 }
}
