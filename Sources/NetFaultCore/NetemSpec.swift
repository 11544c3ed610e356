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

    public init(
        delay: Duration? = nil, jitter: Duration? = nil, delayCorrelation: Percent? = nil,
        distribution: Distribution? = nil, loss: Percent? = nil, lossCorrelation: Percent? = nil,
        duplicate: Percent? = nil, corrupt: Percent? = nil, reorder: Percent? = nil,
        gap: UInt32? = nil, rate: Rate? = nil
    ) {
        self.delay = delay; self.jitter = jitter; self.delayCorrelation = delayCorrelation
        self.distribution = distribution; self.loss = loss; self.lossCorrelation = lossCorrelation
        self.duplicate = duplicate; self.corrupt = corrupt; self.reorder = reorder
        self.gap = gap; self.rate = rate
    }

    /// The longest delay or jitter accepted: netem's 32-bit tick fields hold about 274s,
    /// and a delay longer than a minute per packet is a dead link rather than a slow one.
    public static let maximumDelay = Duration.seconds(60)

    public var isEmpty: Bool { self == NetemSpec() }

    /// Checks every rule netem and iproute2 enforce, so the kernel never sees a bad request.
    public func validate() throws {
        if isEmpty {
            throw InputError(
                "no fault given; add at least one of --delay, --loss, --duplicate, --corrupt, --reorder, --rate")
        }
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
        return parts.joined(separator: ", ")
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
