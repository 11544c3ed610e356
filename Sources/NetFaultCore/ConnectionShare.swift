import FoundationEssentials
import Glibc

/// `--connections`: the share of new connections a lease's connection faults take. Each new
/// connection is drawn once, at its first SYN, and its lot is remembered in the lease's table
/// (see ShareRule), so both directions and both of loopback's passes agree for its whole life.
public enum ConnectionShare: Hashable, Codable, Sendable, CustomStringConvertible {
    /// About this share, drawn at random per connection.
    case percent(Percent)
    /// Every Nth new connection (the Nth, 2Nth, ...), counted per address family.
    case every(UInt32)

    /// The largest N of `every:N`: numgen counts modulo N, and a larger N is a fault nobody sees.
    public static let largestEvery: UInt32 = 1_000_000

    /// `30%`, `0.5%`, `every:3`.
    public static func parse(_ text: String) throws -> ConnectionShare {
        let t = text.trimmed.lowercased()
        if t.hasPrefix("every:") {
            let n = String(t.dropFirst("every:".count))
            guard let v = UInt32(n), v >= 1, v <= largestEvery else {
                throw InputError(
                    """
                    --connections '\(text)' is not a count; every:N takes a whole number from 1 to \(largestEvery), \
                    e.g. every:3 for every third new connection
                    """)
            }
            return .every(v)
        }
        guard t.hasSuffix("%"), t.count > 1 else {
            throw InputError(
                "--connections '\(text)' is neither a share nor a count; give e.g. 30% or every:3")
        }
        let p = try Percent.parse(t, what: "--connections")
        let share = ConnectionShare.percent(p)
        guard p.value > 0, (share.threshold ?? 0) > 0 else {
            throw InputError(
                "--connections \(text) picks no connection; give a share from 0.0001% to 100%, e.g. 30%")
        }
        return share
    }

    /// For a percentage: `numgen random mod FilterSpec.lossModulus < threshold` (parts per million).
    public var threshold: UInt32? {
        guard case .percent(let p) = self else { return nil }
        return UInt32((p.fraction * Double(FilterSpec.lossModulus)).rounded())
    }

    public var description: String {
        switch self {
        case .percent(let p): "\(p)"
        case .every(let n): "every:\(n)"
        }
    }
}

extension Ownership {
    /// The sets of a lease with --connections: the connections drawn in (`chosen`) and out
    /// (`passed`), per family, keyed by addresses and ports in the request's direction.
    public static func shareSet(chosen: Bool, family: IPAddress.Family) -> String {
        (chosen ? "chosen" : "passed") + (family == .ipv4 ? "4" : "6")
    }
    /// Their ids in the install batch, after the lease set's (1), in the order nft gives them.
    public static func shareSetID(chosen: Bool, family: IPAddress.Family) -> UInt32 {
        (family == .ipv4 ? 2 : 4) + (chosen ? 0 : 1)
    }
    /// A mix's (ConnectionMix) group `group` set: the first group's is `chosen`, the next
    /// `chosen4_2`, `chosen4_3`, ...; nil: `passed`.
    public static func shareSet(group: Int?, family: IPAddress.Family) -> String {
        guard let group, group > 0 else { return shareSet(chosen: group != nil, family: family) }
        return shareSet(chosen: true, family: family) + "_\(group + 1)"
    }
    /// The first group's and passed's keep theirs; the next groups' come after the connection
    /// life sets' (6 to 11), so one lease can hold both, as nft numbers them when the sets come
    /// in that order (chosen4_2, chosen6_2, chosen4_3, ...): 12 on.
    public static func shareSetID(group: Int?, family: IPAddress.Family) -> UInt32 {
        guard let group, group > 0 else { return shareSetID(chosen: group != nil, family: family) }
        return firstGroupSetID + UInt32(group - 1) * 2 + (family == .ipv4 ? 0 : 1)
    }
    /// The id of a mix's second group's IPv4 set: after budgetSetID(.ipv6).
    public static let firstGroupSetID: UInt32 = 12
    /// The group and family of a --connections set by its name (group nil: passed); nil: not one.
    public static func shareSetGroup(_ name: String) -> (group: Int?, family: IPAddress.Family)? {
        for family in IPAddress.Family.allCases {
            if name == shareSet(group: nil, family: family) { return (nil, family) }
            for g in 0..<ConnectionMix.largestGroups where name == shareSet(group: g, family: family) {
                return (g, family)
            }
        }
        return nil
    }
    /// Room for this many connections per set; when full, a new connection is drawn out.
    public static let shareSetSize: UInt32 = 65536
}

/// The start of every rule that acts on a new connection's SYN to the lease's ports, in nft's
/// language: the draws, the timers' start and the MSS clamp.
func synToServerSyntax(peer: IPPrefix?) -> [String] {
    var s = ["meta l4proto tcp"]
    if let peer { s.append("\(peer.family == .ipv4 ? "ip" : "ip6") daddr \(peer)") }
    s.append("tcp dport @\(Ownership.leaseSet)")
    s.append(FilterRule.Flags.synOnly.nftSyntax)
    return s
}

/// A connection's key in nft's language: `ip saddr . tcp sport . ip daddr . tcp dport`, in the
/// request's direction (a response's addresses and ports swapped back).
public func connectionKeySyntax(family: IPAddress.Family, side: PortMatch.Side) -> String {
    let ip = family == .ipv4 ? "ip" : "ip6"
    let (first, second) = side == .destination ? ("saddr", "daddr") : ("daddr", "saddr")
    let (p1, p2) = side == .destination ? ("sport", "dport") : ("dport", "sport")
    return "\(ip) \(first) . tcp \(p1) . \(ip) \(second) . tcp \(p2)"
}

/// One of the two rules that decide a new connection's lot, first in the requests' chain: a SYN
/// of a connection in neither set is drawn (`draw`, and/or taken when its socket is in `scope`)
/// into `chosen`, or else goes into `passed`. Both count, so status can say how many were drawn
/// in and out.
public struct ShareRule: Hashable, Codable, Sendable {
    public let hook: FilterRule.Hook
    /// The server's addresses (as the lease's rules narrow them); nil: any.
    public let peer: IPPrefix?
    public let family: IPAddress.Family
    /// The share drawn (--connections); nil with no scope: the rule that puts the connections
    /// the others left out in `passed`.
    public let draw: ConnectionShare?
    /// Only connections whose SYN's socket is in this scope (--uid, --cgroup); output only.
    public let scope: SocketScope?
    public let comment: String
    /// In a mix: the group whose set the draw adds to (nil: the first), and how many groups'
    /// sets a connection must be in none of (nil: one).
    public let group: Int?
    public let groups: Int?

    public init(
        hook: FilterRule.Hook, peer: IPPrefix?, family: IPAddress.Family, draw: ConnectionShare?,
        scope: SocketScope? = nil, comment: String, group: Int? = nil, groups: Int? = nil
    ) {
        self.hook = hook; self.peer = peer; self.family = family; self.draw = draw; self.scope = scope
        self.comment = comment; self.group = group; self.groups = groups
    }

    /// Whether the rule adds to `chosen` (else to `passed`).
    public var chooses: Bool { draw != nil || scope != nil }
    /// The set the rule adds to.
    public var set: String { Ownership.shareSet(group: chooses ? group ?? 0 : nil, family: family) }

    /// The sets a connection must be in none of to be drawn: every group's, then passed.
    public var unseenIn: [Int?] { Array(0..<(groups ?? 1)) + [nil] }

    public var nftSyntax: String {
        var s = synToServerSyntax(peer: peer)
        let key = connectionKeySyntax(family: family, side: .destination)
        for g in unseenIn { s.append("\(key) != @\(Ownership.shareSet(group: g, family: family))") }
        if let scope { s.append(scope.nftSyntax) }
        switch draw {
        case .percent?: s.append("numgen random mod \(FilterSpec.lossModulus) < \(draw?.threshold ?? 0)")
        case .every(let n)?: s.append("numgen inc mod \(n) == \(n - 1)")
        case nil: break
        }
        s.append("counter add @\(set) { \(key) }")
        s.append("comment \"\(comment)\"")
        return s.joined(separator: " ")
    }
}

/// What --connections and a scope add to a lease's table: the share, the scope, and the rules
/// that decide.
public struct ShareDecision: Hashable, Codable, Sendable {
    /// nil: every connection in the scope.
    public let share: ConnectionShare?
    public let scope: SocketScope?
    public let rules: [ShareRule]
    /// In a mix: how many groups (each a set per family); nil: one.
    public let groups: Int?
    /// Before the draws, for a scope alone: each SYN's lot decided afresh (ForgetRule); nil: none.
    public let forgets: [ForgetRule]?
    public init(
        share: ConnectionShare?, scope: SocketScope? = nil, rules: [ShareRule], groups: Int? = nil,
        forgets: [ForgetRule]? = nil
    ) {
        self.share = share; self.scope = scope; self.rules = rules; self.groups = groups
        self.forgets = (forgets ?? []).isEmpty ? nil : forgets
    }
    /// The sets per family: each group's, then passed.
    public var sets: [Int?] { Array(0..<(groups ?? 1)) + [nil] }
    /// The families that have sets (and rules).
    public var families: [IPAddress.Family] {
        IPAddress.Family.allCases.filter { f in rules.contains { $0.family == f } }
    }
}
