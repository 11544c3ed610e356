import FoundationEssentials
import Glibc

/// The shape of jitter: netem's delay distribution tables.
public enum Distribution: String, Codable, Sendable, CaseIterable {
    case normal, pareto, paretonormal
}

/// The netem faults of one lease, as the user gave them (typed, not yet in kernel units).
public struct NetemSpec: Hashable, Codable, Sendable {
    public var delay: Duration?
    public var jitter: Duration?
    public var delayCorrelation: Percent?
    public var distribution: Distribution?
    public var loss: Percent?
    public var lossCorrelation: Percent?
    public var duplicate: Percent?
    public var corrupt: Percent?
    public var reorder: Percent?
    public var gap: UInt32?
    public var rate: Rate?
    /// netem's queue limit in packets, as given with --limit; nil: `effectiveLimit` sizes it.
    /// Not a fault: it only sizes the queue the faults use. (Absent in older journal entries.)
    public var limit: UInt32?
    /// `--connect-delay`: the one handshake packet leaving this host (the client's SYN, or a local
    /// server's SYN-ACK) held this long, in a band of its own (ConnectionPhase).
    public var connectDelay: Duration?
    /// `--slow-close`: the FINs leaving this host held this long, in a band of its own.
    public var slowClose: Duration?
    /// serve's latency: the handshake's packets skip the band (nf_tables steering only), so
    /// connect() does not pay the delay, as through a proxy that accepts at once. Not a fault.
    public var sparesHandshake: Bool?

    public init(
        delay: Duration? = nil, jitter: Duration? = nil, delayCorrelation: Percent? = nil,
        distribution: Distribution? = nil, loss: Percent? = nil, lossCorrelation: Percent? = nil,
        duplicate: Percent? = nil, corrupt: Percent? = nil, reorder: Percent? = nil,
        gap: UInt32? = nil, rate: Rate? = nil, limit: UInt32? = nil, connectDelay: Duration? = nil,
        slowClose: Duration? = nil
    ) {
        self.delay = delay; self.jitter = jitter; self.delayCorrelation = delayCorrelation
        self.distribution = distribution; self.loss = loss; self.lossCorrelation = lossCorrelation
        self.duplicate = duplicate; self.corrupt = corrupt; self.reorder = reorder
        self.gap = gap; self.rate = rate; self.limit = limit
        self.connectDelay = connectDelay; self.slowClose = slowClose
    }

    /// The longest delay or jitter accepted: netem's 32-bit tick fields hold about 274s,
    /// and a delay longer than a minute per packet is a dead link rather than a slow one.
    public static let maximumDelay = Duration.seconds(60)

    /// Whether no fault is given (a queue limit alone changes no packet).
    public var isEmpty: Bool {
        var faults = self
        faults.limit = nil; faults.sparesHandshake = nil
        return faults == NetemSpec()
    }

    /// The faults netem decides once per packet as the kernel holds it: with segmentation
    /// offloads that packet may be a 64 KB super-packet, not one on the wire.
    public var perPacketFaults: [String] {
        [("--loss", loss), ("--corrupt", corrupt), ("--duplicate", duplicate), ("--reorder", reorder)]
            .compactMap { $0.1 == nil ? nil : $0.0 }
    }

    /// Checks every rule netem and iproute2 enforce, so the kernel never sees a bad request.
    public func validate() throws {
        if isEmpty && limit != nil {
            throw InputError(
                """
                --limit sizes netem's queue and is no fault by itself; add at least one of --delay, --loss, \
                --duplicate, --corrupt, --reorder, --rate, --connect-delay, --slow-close
                """
            )
        }
        if isEmpty {
            throw InputError(
                """
                no fault given; add at least one of --delay, --loss, --duplicate, --corrupt, --reorder, --rate, \
                --connect-delay, --slow-close
                """)
        }
        try validatePhases()
        for (name, d) in [("--delay", delay), ("--jitter", jitter)] {
            if let d, d > Self.maximumDelay {
                throw InputError(
                    """
                    \(name) \(d) is too long; the most is \(Self.maximumDelay) (a longer delay is a dead link, not a \
                    slow one)
                    """
                )
            }
        }
        let hasDelay = (delay?.nanoseconds ?? 0) > 0
        if jitter != nil && !hasDelay {
            throw InputError(
                "--jitter needs --delay: jitter varies a delay around its mean (e.g. --delay 100ms --jitter 10ms)")
        }
        if delayCorrelation != nil && jitter == nil {
            throw InputError("--delay-correlation needs --jitter: it correlates successive random jitter values")
        }
        if distribution != nil && (jitter == nil || !hasDelay) {
            throw InputError("--distribution needs --delay and --jitter: it shapes how the jitter is spread")
        }
        if lossCorrelation != nil && loss == nil {
            throw InputError("--loss-correlation needs --loss")
        }
        if reorder != nil && !hasDelay {
            throw InputError(
                """
                --reorder needs --delay: reordered packets are the ones sent without the delay (e.g. --delay 10ms \
                --reorder 25%)
                """
            )
        }
        if gap != nil && reorder == nil {
            throw InputError("--gap needs --reorder: it reorders every Nth packet")
        }
        if let gap, gap == 0 {
            throw InputError("--gap must be at least 1")
        }
        if let limit, !Self.limitRange.contains(limit) {
            throw InputError("--limit \(limit) is out of range; \(Self.limitRangeText)")
        }
    }

    /// One line a person reads: "delay 100ms ±10ms, loss 5%".
    public var summary: String {
        var parts: [String] = []
        if let delay {
            var s = "delay \(delay)"
            if let jitter { s += " ±\(jitter)" }
            if let delayCorrelation { s += " (correlation \(delayCorrelation))" }
            if let distribution { s += " \(distribution.rawValue)" }
            parts.append(s)
        }
        if let loss {
            parts.append("loss \(loss)" + (lossCorrelation.map { " (correlation \($0))" } ?? ""))
        }
        if let duplicate { parts.append("duplicate \(duplicate)") }
        if let corrupt { parts.append("corrupt \(corrupt)") }
        if let reorder { parts.append("reorder \(reorder)" + (gap.map { " gap \($0)" } ?? "")) }
        if let rate { parts.append("rate \(rate)") }
        if let limit { parts.append("limit \(limit)") }
        parts += phases.map { "\($0.phase.option.dropFirst(2)) \($0.delay)" }
        return parts.joined(separator: ", ")
    }
}

/// netem's queue limit: how many packets it holds at once (delayed, rate-limited or waiting to
/// be reordered). A packet that arrives when the queue is full is dropped, a loss nobody asked
/// for, so the default leaves room for everything in flight during the delay.
extension NetemSpec {
    /// tc's default, and the least netfault sets.
    public static let tcDefaultLimit: UInt32 = 1000
    /// The most the default grows to. It is a cap, not an allocation: the kernel only holds the
    /// packets actually queued, and a flow's own socket buffers bound how many those are.
    public static let maximumDefaultLimit: UInt32 = 1_000_000
    /// What --limit accepts.
    public static let limitRange: ClosedRange<UInt32> = 1...10_000_000
    static let limitRangeText = "give a whole number of packets from 1 to 10000000, e.g. 20000"

    /// --limit as typed; its range is checked by `validate`.
    public static func parseLimit(_ text: String) throws -> UInt32 {
        guard let n = UInt32(text.trimmed) else {
            throw InputError("--limit '\(text)' is not a number of packets; \(limitRangeText)")
        }
        return n
    }
    /// The packet rate the default makes room for: what a PING flood or a busy client reaches
    /// on loopback. 1000 packets at this rate last 10ms, so tc's default dropped packets under
    /// any longer delay (91 drops were counted under a PING flood with --delay 100ms).
    static let busyPacketsPerSecond: UInt64 = 100_000
    /// Bytes per packet when --rate sizes the queue: an Ethernet MTU.
    static let packetBytes: UInt64 = 1500

    /// The limit netem gets: --limit when given, else room for the packets in flight while
    /// each is held for delay + jitter, at `busyPacketsPerSecond` or at --rate (whichever is
    /// more), at least tc's 1000 and at most `maximumDefaultLimit`.
    public var effectiveLimit: UInt32 {
        if let limit { return limit }
        let held = UInt64(max(0, delay?.nanoseconds ?? 0)) + UInt64(max(0, jitter?.nanoseconds ?? 0))
        var packets = Self.inFlight(held, perSecond: Self.busyPacketsPerSecond)
        if let rate {
            packets = max(packets, Self.inFlight(held, perSecond: rate.bytesPerSecond, per: Self.packetBytes))
        }
        return UInt32(min(max(packets, UInt64(Self.tcDefaultLimit)), UInt64(Self.maximumDefaultLimit)))
    }

    /// ⌈held (ns) × perSecond / per⌉, saturating: what a flow of `perSecond` units has in flight,
    /// in packets of `per` units. The product of ns and bytes/s overflows 64 bits, so it is
    /// divided at full width.
    static func inFlight(_ held: UInt64, perSecond: UInt64, per: UInt64 = 1) -> UInt64 {
        let n = perSecond.multipliedFullWidth(by: held), d = 1_000_000_000 * per
        guard n.high < d else { return .max }
        let (q, r) = d.dividingFullWidth(n)
        return r == 0 || q == .max ? q : q + 1
    }
}

/// How long a lease may last.
public enum LeaseLimits {
    public static let defaultDuration = Duration.seconds(60)
    public static let maximumDuration = Duration.seconds(24 * 3600)

    public static func validate(_ d: Duration) throws {
        guard d.nanoseconds > 0 else { throw InputError("--for must be longer than 0s") }
        guard d <= maximumDuration else {
            throw InputError("--for \(d) is too long; a lease lasts at most 24h")
        }
    }
}
