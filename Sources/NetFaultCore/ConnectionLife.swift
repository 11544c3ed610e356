import FoundationEssentials
import Glibc

/// Faults over a connection's life, each kept per connection in the lease's table: a timer from
/// the connection's first packet (`--reset-after`, `--hang-after`, Toxiproxy's `reset_peer` and
/// `timeout` with a time) and a budget of the bytes the server sends (`--limit-data`, Toxiproxy's
/// `limit_data`). nf_tables acts only when a packet passes, so a timer fires at the connection's
/// first packet after it.
public struct ConnectionLife: Hashable, Codable, Sendable {
    /// What a connection that spent its byte budget meets.
    public enum LimitAction: String, Codable, Sendable, CaseIterable {
        /// The client gets a TCP reset in place of the server's next segment (ECONNRESET).
        case reset
        /// The connection's packets are dropped from then on, both ways (a blackhole).
        case close
    }

    /// `--reset-after D`: the first packet more than D after the connection's first gets a reset.
    public var resetAfter: Duration?
    /// `--hang-after D`: the connection's packets are dropped from D after its first.
    public var hangAfter: Duration?
    /// `--limit-data BYTES`: what the server may send on one connection (IP packets, headers too).
    public var limitData: UInt64?
    public var limitAction: LimitAction
    /// `--slice BYTES`: the MSS of the connection's SYN set to this, so the server sends
    /// segments of at most BYTES (Toxiproxy's slicer, approximated).
    public var slice: UInt16?

    public init(resetAfter: Duration? = nil, hangAfter: Duration? = nil, limitData: UInt64? = nil,
                limitAction: LimitAction = .reset, slice: UInt16? = nil) {
        self.resetAfter = resetAfter; self.hangAfter = hangAfter; self.limitData = limitData
        self.limitAction = limitAction; self.slice = slice
    }

    public var isEmpty: Bool { timer == nil && limitData == nil && slice == nil }

    /// The timer's length, whichever of the two gave it.
    public var timer: Duration? { resetAfter ?? hangAfter }

    /// The shortest timer: one jiffy at HZ=100 is the kernel's coarsest step.
    public static let shortestTimer = Duration.milliseconds(10)
    /// The largest budget: nft's quota counts in 64 bits, but a person means less than 1 TiB.
    public static let largestBudget: UInt64 = 1 << 40
    /// The slices' range: Linux does not go below tcp_min_snd_mss (48) and TCP timestamps take
    /// 12 bytes of each segment; above a network's usual MSS a clamp would slice nothing.
    public static let slices: ClosedRange<UInt16> = 64...1400

    /// Parses the options as given; every mistake is named before anything touches the kernel.
    public static func parse(
        resetAfter: String?, hangAfter: String?, limitData: String?, limitAction: String?, slice: String? = nil
    ) throws -> ConnectionLife {
        if resetAfter != nil && hangAfter != nil {
            throw InputError(
                "--reset-after and --hang-after are two ends for the same connection; give one of them")
        }
        var life = ConnectionLife()
        life.resetAfter = try resetAfter.map { try timer($0, what: "--reset-after") }
        life.hangAfter = try hangAfter.map { try timer($0, what: "--hang-after") }
        life.limitData = try limitData.map(budget)
        life.slice = try slice.map(sliceSize)
        if let limitAction {
            guard let a = LimitAction(rawValue: limitAction.trimmed.lowercased()) else {
                throw InputError("--limit-data-action '\(limitAction)' is neither reset nor close; give one of them")
            }
            guard life.limitData != nil else {
                throw InputError("--limit-data-action \(a.rawValue) says what --limit-data does; give --limit-data too")
            }
            life.limitAction = a
        }
        return life
    }

    static func timer(_ text: String, what: String) throws -> Duration {
        let d = try Duration.parse(text, what: what)
        guard d >= shortestTimer else {
            throw InputError("\(what) \(text) is shorter than the kernel's timers keep (10ms); give e.g. 2s")
        }
        return d
    }

    static func sliceSize(_ text: String) throws -> UInt16 {
        guard let n = Int(text.trimmed), n >= 0 else {
            throw InputError("--slice '\(text)' is not a number of bytes; give e.g. 100")
        }
        guard n >= Int(slices.lowerBound) else {
            throw InputError(
                """
                --slice \(n) is below what Linux sends: it keeps segments at tcp_min_snd_mss (48) or more, and \
                timestamps take 12 bytes of each; give \(slices.lowerBound) or more
                """)
        }
        guard n <= Int(slices.upperBound) else {
            throw InputError(
                "--slice \(n) is above a network's usual segment size, so nothing would be sliced; give 64 to 1400")
        }
        return UInt16(n)
    }

    static func budget(_ text: String) throws -> UInt64 {
        let t = text.trimmed.lowercased()
        let units: [(String, UInt64)] = [("kib", 1024), ("mib", 1 << 20), ("gib", 1 << 30), ("kb", 1000),
                                         ("mb", 1_000_000), ("gb", 1_000_000_000), ("b", 1)]
        var scale: UInt64 = 1
        var number = Substring(t)
        if let (suffix, s) = units.first(where: { t.hasSuffix($0.0) }) { scale = s; number = t.dropLast(suffix.count) }
        guard let n = UInt64(number), n >= 1 else {
            throw InputError("--limit-data '\(text)' is not a number of bytes; give e.g. 4096 or 64KiB")
        }
        let (bytes, over) = n.multipliedReportingOverflow(by: scale)
        guard !over, bytes <= largestBudget else {
            throw InputError("--limit-data \(text) is more than netfault counts (1 TiB); give e.g. 4096 or 64KiB")
        }
        return bytes
    }

    /// The combinations no kernel refuses but that make no sense. --limit-data counts what the
    /// server sends whatever --direction says (which the timers follow).
    public func validate(action: FilterSpec.Action?, direction: Direction, netem: NetemSpec) throws {
        guard !isEmpty else { return }
        // A hung connection still sends (TCP resends what was dropped): its timer can reset it,
        // Toxiproxy's timeout with a time. The timer's rules go ahead of the hang's (LifePlan.leads).
        if action == .hang, self == ConnectionLife(resetAfter: resetAfter), resetAfter != nil { return }
        if let action {
            throw InputError(
                """
                \(action.option) already takes every matched packet, so \(options.joined(separator: " and ")) \
                would never come into play; give them in a lease of their own
                """)
        }
        if !netem.isEmpty {
            throw InputError(
                """
                \(options.joined(separator: " and ")) are connection faults of nf_tables; give netem faults in a \
                lease of their own
                """)
        }
    }

    /// The options as given, for messages.
    var options: [String] {
        var o: [String] = []
        if resetAfter != nil { o.append("--reset-after") }
        if hangAfter != nil { o.append("--hang-after") }
        if limitData != nil { o.append("--limit-data") }
        if slice != nil { o.append("--slice") }
        return o
    }

    /// "reset-after 2s", "limit-data 4096 close".
    public var summary: String {
        var parts: [String] = []
        if let resetAfter { parts.append("reset-after \(resetAfter)") }
        if let hangAfter { parts.append("hang-after \(hangAfter)") }
        if let limitData { parts.append("limit-data \(limitData)" + (limitAction == .close ? " close" : "")) }
        if let slice { parts.append("slice \(slice)") }
        return parts.joined(separator: ", ")
    }
}

extension Ownership {
    /// The sets of a lease with a connection timer, per family, keyed like --connections' sets:
    /// `young` holds each connection for the timer's length from its SYN, `seen` for the lease.
    /// A connection in `seen` but no longer in `young` is past its time.
    public static func timerSet(young: Bool, family: IPAddress.Family) -> String {
        (young ? "young" : "seen") + (family == .ipv4 ? "4" : "6")
    }
    /// Their ids in the install batch, after --connections' (2 to 5).
    public static func timerSetID(young: Bool, family: IPAddress.Family) -> UInt32 {
        (family == .ipv4 ? 6 : 8) + (young ? 0 : 1)
    }
    /// The set of a lease with --limit-data, per family: each connection with its quota.
    public static func budgetSet(_ family: IPAddress.Family) -> String { "budget" + (family == .ipv4 ? "4" : "6") }
    public static func budgetSetID(_ family: IPAddress.Family) -> UInt32 { family == .ipv4 ? 10 : 11 }
}
