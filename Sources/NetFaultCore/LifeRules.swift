import FoundationEssentials
import Glibc

/// The rule that starts a connection's timer, first in the chains its SYN passes on the way to
/// the server: a SYN of a connection not yet `seen` is added to `young` (which forgets it after
/// the timer's length) and to `seen` (which keeps it for the lease). `add` leaves an element's
/// timeout alone when it is there already, so a repeated SYN does not restart the timer.
public struct TimerStart: Hashable, Codable, Sendable {
    public let hook: FilterRule.Hook
    /// The server's addresses (as the lease's rules narrow them); nil: any.
    public let peer: IPPrefix?
    public let family: IPAddress.Family
    public let comment: String

    public init(hook: FilterRule.Hook, peer: IPPrefix?, family: IPAddress.Family, comment: String) {
        self.hook = hook; self.peer = peer; self.family = family; self.comment = comment
    }

    public var nftSyntax: String {
        var s = synToServerSyntax(peer: peer)
        let key = connectionKeySyntax(family: family, side: .destination)
        s.append("\(key) != @\(Ownership.timerSet(young: false, family: family))")
        for young in [true, false] { s.append("add @\(Ownership.timerSet(young: young, family: family)) { \(key) }") }
        s.append("comment \"\(comment)\"")
        return s.joined(separator: " ")
    }
}

/// A fault rule that takes only connections past their timer (`expired`) or over their byte
/// budget (`overBudget`), one per family (a connection's key holds one family's addresses).
public struct LifeRule: Hashable, Codable, Sendable {
    public enum Kind: Hashable, Codable, Sendable {
        /// `KEY @seen KEY != @young`: the connection began under the lease, longer ago than the timer.
        case expired
        /// `add @budget { KEY quota over BYTES bytes }`: the connection has carried more than BYTES.
        case overBudget(UInt64)
    }
    public enum Verdict: String, Codable, Sendable {
        /// `reject with tcp reset`: the packet's sender gets a reset.
        case reset
        case drop
        /// `tcp flags set rst | ack`: the server's segment reaches the client as a reset, in
        /// sequence, so the client (not the server) is reset; a reject would reset the server.
        case resetReceiver
    }

    public let hook: FilterRule.Hook
    public let side: PortMatch.Side
    public let peer: IPPrefix?
    public let flags: FilterRule.Flags?
    public let family: IPAddress.Family
    /// With --connections: only connections drawn into the family's chosen set.
    public let chosen: Bool
    public let kind: Kind
    public let verdict: Verdict
    public let comment: String

    public init(hook: FilterRule.Hook, side: PortMatch.Side, peer: IPPrefix?, flags: FilterRule.Flags?,
                family: IPAddress.Family, chosen: Bool, kind: Kind, verdict: Verdict, comment: String) {
        self.hook = hook; self.side = side; self.peer = peer; self.flags = flags; self.family = family
        self.chosen = chosen; self.kind = kind; self.verdict = verdict; self.comment = comment
    }

    public var nftSyntax: String {
        var s = ["meta l4proto tcp"]
        let ip = family == .ipv4 ? "ip" : "ip6"
        if let peer { s.append("\(ip) \(side == .destination ? "daddr" : "saddr") \(peer)") }
        s.append("tcp \(side == .destination ? "dport" : "sport") @\(Ownership.leaseSet)")
        if let flags { s.append(flags.nftSyntax) }
        let key = connectionKeySyntax(family: family, side: side)
        if chosen { s.append("\(key) @\(Ownership.shareSet(chosen: true, family: family))") }
        switch kind {
        case .expired:
            s.append("\(key) @\(Ownership.timerSet(young: false, family: family))")
            s.append("\(key) != @\(Ownership.timerSet(young: true, family: family))")
        case .overBudget(let bytes):
            s.append("add @\(Ownership.budgetSet(family)) { \(key) quota over \(bytes) bytes }")
        }
        s.append("counter")
        switch verdict {
        case .reset: s.append("reject with tcp reset")
        case .drop: s.append("drop")
        case .resetReceiver: s.append("tcp flags set rst | ack")
        }
        s.append("comment \"\(comment)\"")
        return s.joined(separator: " ")
    }
}

/// `--slice`: the MSS option of a SYN to the server set to `bytes`, so the server's segments
/// carry at most that much.
public struct SliceRule: Hashable, Codable, Sendable {
    public let hook: FilterRule.Hook
    public let peer: IPPrefix?
    /// With --connections: only the SYNs of connections drawn into this family's chosen set.
    public let chosen: IPAddress.Family?
    public let bytes: UInt16
    public let comment: String

    public init(hook: FilterRule.Hook, peer: IPPrefix?, chosen: IPAddress.Family?, bytes: UInt16, comment: String) {
        self.hook = hook; self.peer = peer; self.chosen = chosen; self.bytes = bytes; self.comment = comment
    }

    public var nftSyntax: String {
        var s = synToServerSyntax(peer: peer)
        if let chosen {
            let key = connectionKeySyntax(family: chosen, side: .destination)
            s.append("\(key) @\(Ownership.shareSet(chosen: true, family: chosen))")
        }
        s.append("counter tcp option maxseg size set \(bytes)")
        s.append("comment \"\(comment)\"")
        return s.joined(separator: " ")
    }
}

/// What --reset-after, --hang-after, --limit-data and --slice add to a lease's table.
public struct LifePlan: Hashable, Codable, Sendable {
    public let life: ConnectionLife
    public let starts: [TimerStart]
    public let rules: [LifeRule]
    public let slices: [SliceRule]
    /// `rules` go ahead of the lease's fault rules (--hang --reset-after): else the hang's drop
    /// would take an expired connection's packet before its reset. nil: after them.
    public let leads: Bool?
    public init(
        life: ConnectionLife, starts: [TimerStart], rules: [LifeRule], slices: [SliceRule] = [], leads: Bool? = nil
    ) {
        self.life = life; self.starts = starts; self.rules = rules; self.slices = slices; self.leads = leads
    }
    /// A chain's fault rules and the rules that end a connection, in the chain's order: the ends
    /// first when they lead, else after.
    public static func ordered<T>(faults: [T], ends: [T], in plan: LifePlan?) -> [T] {
        plan?.leads == true ? ends + faults : faults + ends
    }
    /// The families that have timer sets.
    public var timerFamilies: [IPAddress.Family] {
        IPAddress.Family.allCases.filter { f in starts.contains { $0.family == f } }
    }
    /// The families that have budget sets.
    public var budgetFamilies: [IPAddress.Family] {
        IPAddress.Family.allCases.filter { f in
            rules.contains { if case .overBudget = $0.kind { $0.family == f } else { false } }
        }
    }
    /// The timer's length in the kernel's unit, never longer than the lease (`leaseMilliseconds`).
    public func timerMilliseconds(lease leaseMilliseconds: UInt64) -> UInt64 {
        guard let t = life.timer else { return leaseMilliseconds }
        return min(leaseMilliseconds, UInt64(max(1, (t.nanoseconds + 999_999) / 1_000_000)))
    }
}

extension FilterPlanner {
    /// The life faults' rules: the timer starts in the chains a SYN passes to the server (for a
    /// local server input, and output too, which a loopback SYN passes first), then per side the
    /// lease's direction covers, address block and family, the rules that end a connection.
    static func life(
        _ life: ConnectionLife, server: ServerLocation, direction: Direction, scopes: [IPPrefix?], chosen: Bool,
        comment: String, leads: Bool = false
    ) -> LifePlan? {
        guard !life.isEmpty else { return nil }
        var starts: [TimerStart] = []
        if life.timer != nil {
            for hook in server == .local ? [FilterRule.Hook.output, .input] : [.output] {
                for scope in scopes {
                    starts += families(scope).map { TimerStart(hook: hook, peer: scope, family: $0, comment: comment) }
                }
            }
        }
        let (requests, responses): (FilterRule.Hook, FilterRule.Hook) =
            server == .local ? (.input, .output) : (.output, .input)
        var rules: [LifeRule] = []
        for scope in scopes {
            for family in families(scope) {
                func rule(_ hook: FilterRule.Hook, _ side: PortMatch.Side, _ flags: FilterRule.Flags?,
                          _ kind: LifeRule.Kind, _ verdict: LifeRule.Verdict) -> LifeRule {
                    LifeRule(hook: hook, side: side, peer: scope, flags: flags, family: family, chosen: chosen,
                             kind: kind, verdict: verdict, comment: comment)
                }
                for (side, hook, wanted) in [
                    (PortMatch.Side.destination, requests, direction.matchesToServer),
                    (.source, responses, direction.matchesFromServer)
                ] where wanted {
                    if life.resetAfter != nil { rules.append(rule(hook, side, .notRst, .expired, .reset)) }
                    if life.hangAfter != nil { rules.append(rule(hook, side, .notSyn, .expired, .drop)) }
                }
                if let bytes = life.limitData {
                    let verdict: LifeRule.Verdict = life.limitAction == .close ? .drop : .resetReceiver
                    rules.append(rule(responses, .source, nil, .overBudget(bytes), verdict))
                }
            }
        }
        var slices: [SliceRule] = []
        if let bytes = life.slice {
            for scope in scopes {
                let families: [IPAddress.Family?] = chosen ? Self.families(scope) : [nil]
                slices += families.map {
                    SliceRule(hook: requests, peer: scope, chosen: $0, bytes: bytes, comment: comment)
                }
            }
        }
        return LifePlan(life: life, starts: starts, rules: rules, slices: slices, leads: leads ? true : nil)
    }
}

extension LifePlan {
    /// The sets in an `nft -f` script of the lease's table (FilterPlan.nftScript).
    func nftSets(lease: Duration) -> [String] {
        let leaseMs = UInt64(max(1, (lease.nanoseconds + 999_999) / 1_000_000))
        var sets: [(String, IPAddress.Family, UInt64)] = []
        for f in timerFamilies {
            sets.append((Ownership.timerSet(young: true, family: f), f, timerMilliseconds(lease: leaseMs)))
            sets.append((Ownership.timerSet(young: false, family: f), f, leaseMs))
        }
        sets += budgetFamilies.map { (Ownership.budgetSet($0), $0, leaseMs) }
        return sets.flatMap { name, family, ms in
            let addr = family == .ipv4 ? "ipv4_addr" : "ipv6_addr"
            return [
                "\tset \(name) {",
                "\t\ttype \(addr) . inet_service . \(addr) . inet_service; flags dynamic,timeout;",
                "\t\tsize \(Ownership.shareSetSize); timeout \(Duration.milliseconds(Int64(ms)));",
                "\t}"
            ]
        }
    }
}
