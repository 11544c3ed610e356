import FoundationEssentials
import Glibc

extension Ownership {
    /// Each lease's nf_tables faults live in a table of their own in the inet family, created
    /// with the owner flag by the lease's watchdog: the kernel deletes it when that process dies.
    public static let tablePrefix = "netfault-"
    public static func tableName(leaseID: String) -> String { tablePrefix + leaseID }
    public static func leaseID(ofTable name: String) -> String? {
        name.hasPrefix(tablePrefix) ? String(name.dropFirst(tablePrefix.count)) : nil
    }
    /// Base chain priority: the mangle slot, ahead of the usual filter rules, which cannot
    /// un-drop a packet another table dropped anyway.
    public static let chainPriority: Int32 = -150
    /// Every rule's comment starts with this, then the lease id.
    public static let ruleCommentPrefix = "netfault "
    /// The set in each lease's table that holds the target's ports, each element with a timeout
    /// of the lease's time left: every rule matches a port through it, so when the deadline
    /// passes the kernel expires the elements and no rule matches any more (on its monotonic
    /// clock, whatever happens to the watchdog or the wall clock).
    public static let leaseSet = "lease"
    /// The set's id inside the batch that creates it, by which the rules' lookups name it.
    public static let leaseSetID: UInt32 = 1
    /// The skb->priority a steering rule gives a packet for `band`: prio takes the class
    /// straight from it when its major number is the qdisc's handle, before any filter.
    public static func steeringPriority(band: UInt16) -> UInt32 { UInt32(rootMajor) << 16 | UInt32(band) }
}

/// One nf_tables rule in a lease's table: an optional output device, TCP, an optional address
/// block and the lease's ports (its set) on one side, optional TCP flags and random draw, count,
/// then drop, reset, or steer to a netem band.
public struct FilterRule: Hashable, Codable, Sendable {
    /// Packets to the server are caught leaving this host (output); packets from the server
    /// arriving (input). On loopback a packet passes both, and each side is caught once.
    public enum Hook: String, Codable, Sendable, CaseIterable { case output, input }
    public enum Flags: String, Codable, Sendable {
        /// A connection attempt: SYN set, ACK clear.
        case synOnly
        /// Anything but the handshake's SYN and SYN-ACK.
        case notSyn
        /// Anything but a reset: the resets that `reject` sends back pass the other chain
        /// (with --direction both), and a client's own reset still reaches the server.
        case notRst
        /// The server's answer to a connection attempt: SYN and ACK set (--connect-delay).
        case synAck
        /// A FIN, with or without data (--slow-close).
        case fin

        /// The match in nft's language.
        public var nftSyntax: String {
            switch self {
            case .synOnly: "tcp flags & (syn | ack) == syn"
            case .notSyn: "tcp flags & syn == 0"
            case .notRst: "tcp flags & rst == 0"
            case .synAck: "tcp flags & (syn | ack) == syn | ack"
            case .fin: "tcp flags & fin == fin"
            }
        }
    }
    public enum Verdict: String, Codable, Sendable {
        case drop
        /// `reject with tcp reset`: the packet is dropped and its sender gets a RST.
        case reset
        /// `meta priority set 6e66:BAND`: the packet goes on, into the lease's netem band.
        case steer
    }

    public let hook: Hook
    public let side: PortMatch.Side
    /// The other end's addresses (destination side for output, source side for input); nil: any.
    public let peer: IPPrefix?
    public let flags: Flags?
    /// Drop only when `numgen random mod FilterSpec.lossModulus` is below this.
    public let lossThreshold: UInt32?
    public let verdict: Verdict
    /// The marker naming the lease, stored as the rule's comment (user data).
    public let comment: String
    /// For `steer`: the device the packet leaves through (oifname) and the band it goes to.
    public let device: String?
    public let band: UInt16?
    /// With --connections: only connections in this family's `chosen` set (ShareRule).
    public let chosen: IPAddress.Family?
    /// In a mix (ConnectionMix): the group whose set `chosen` names; nil: the first.
    public let group: Int?

    public init(
        hook: Hook, side: PortMatch.Side, peer: IPPrefix? = nil, flags: Flags? = nil,
        lossThreshold: UInt32? = nil, verdict: Verdict, comment: String, chosen: IPAddress.Family? = nil,
        group: Int? = nil
    ) {
        self.hook = hook; self.side = side; self.peer = peer; self.flags = flags
        self.lossThreshold = lossThreshold; self.verdict = verdict; self.comment = comment
        device = nil; band = nil; self.chosen = chosen; self.group = group
    }

    /// A rule that sends the lease's packets leaving `device` to its netem `band`.
    /// `flags`: only those packets (a phase band's, ConnectionPhase).
    public static func steer(
        device: String, band: UInt16, side: PortMatch.Side, peer: IPPrefix?, comment: String,
        chosen: IPAddress.Family? = nil, flags: Flags? = nil
    ) -> FilterRule {
        FilterRule(
            hook: .output, side: side, peer: peer, verdict: .steer, comment: comment, device: device, band: band,
            chosen: chosen, flags: flags)
    }

    init(
        hook: Hook, side: PortMatch.Side, peer: IPPrefix?, verdict: Verdict, comment: String, device: String,
        band: UInt16, chosen: IPAddress.Family?, flags: Flags? = nil
    ) {
        self.hook = hook; self.side = side; self.peer = peer; self.flags = flags; lossThreshold = nil
        self.verdict = verdict; self.comment = comment; self.device = device; self.band = band
        self.chosen = chosen; group = nil
    }

    /// The same rule for the connections drawn into `family`'s chosen set.
    func chosen(_ family: IPAddress.Family) -> FilterRule {
        if verdict == .steer, let device, let band {
            return .steer(
                device: device, band: band, side: side, peer: peer, comment: comment, chosen: family, flags: flags)
        }
        return FilterRule(
            hook: hook, side: side, peer: peer, flags: flags, lossThreshold: lossThreshold, verdict: verdict,
            comment: comment, chosen: family)
    }

    /// The same rule in nft's language: shown by status, and the key of the fixtures that
    /// compare netfault's bytes with `nft --debug=netlink`.
    public var nftSyntax: String {
        var s: [String] = []
        if let device { s.append("oifname \"\(device)\"") }
        s.append("meta l4proto tcp")
        if let peer {
            let proto = peer.family == .ipv4 ? "ip" : "ip6"
            s.append("\(proto) \(side == .destination ? "daddr" : "saddr") \(peer)")
        }
        s.append("tcp \(side == .destination ? "dport" : "sport") @\(Ownership.leaseSet)")
        if let flags { s.append(flags.nftSyntax) }
        if let chosen {
            let set = Ownership.shareSet(group: group ?? 0, family: chosen)
            s.append("\(connectionKeySyntax(family: chosen, side: side)) @\(set)")
        }
        if let lossThreshold { s.append("numgen random mod \(FilterSpec.lossModulus) < \(lossThreshold)") }
        s.append("counter")
        switch verdict {
        case .drop: s.append("drop")
        case .reset: s.append("reject with tcp reset")
        case .steer:
            s.append("meta priority set \(String(Ownership.rootMajor, radix: 16)):\(String(band ?? 0, radix: 16))")
        }
        s.append("comment \"\(comment)\"")
        return s.joined(separator: " ")
    }
}

/// Everything one lease installs through nf_tables: its table, the set of its ports (whose
/// elements expire at the deadline), and the rules in its base chains.
public struct FilterPlan: Hashable, Codable, Sendable {
    public let table: String
    public let rules: [FilterRule]
    /// The elements of the lease's set: the target's ports.
    public let ports: [UInt16]
    /// With --connections: the share and the rules that draw it (first in their chains).
    public let share: ShareDecision?
    /// With --reset-after, --hang-after, --limit-data: their sets and rules.
    public let life: LifePlan?
    public init(
        table: String, ports: [UInt16], rules: [FilterRule], share: ShareDecision? = nil, life: LifePlan? = nil
    ) {
        self.table = table; self.ports = ports; self.rules = rules; self.share = share; self.life = life
    }
    enum CodingKeys: String, CodingKey { case table, rules, ports, share, life }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        table = try c.decode(String.self, forKey: .table)
        rules = try c.decode([FilterRule].self, forKey: .rules)
        ports = try c.decodePorts(forKey: .ports)
        share = try c.decodeIfPresent(ShareDecision.self, forKey: .share)
        life = try c.decodeIfPresent(LifePlan.self, forKey: .life)
    }
    /// The ports as a PortList: the journal's largest field at 10,000 ports.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(table, forKey: .table)
        try c.encode(rules, forKey: .rules)
        try c.encode(PortList.text(ports), forKey: .ports)
        try c.encodeIfPresent(share, forKey: .share)
        try c.encodeIfPresent(life, forKey: .life)
    }
    /// The base chains the rules need, named after their hooks.
    public var hooks: [FilterRule.Hook] {
        FilterRule.Hook.allCases.filter { h in
            rules.contains { $0.hook == h } || (share?.rules ?? []).contains { $0.hook == h }
                || (life?.starts ?? []).contains { $0.hook == h } || (life?.rules ?? []).contains { $0.hook == h }
                || (life?.slices ?? []).contains { $0.hook == h }
        }
    }
}

public enum FilterPlanner {
    /// The rules for one lease. `peers` narrows the addresses like `--host` does (which it replaces).
    /// `server`: where requests are caught. A remote server's on output (leaving), its responses
    /// on input; a local server's requests on input (arriving), its responses on output.
    public static func plan(
        leaseID: String, target: Target, peers: [IPPrefix], direction: Direction,
        spec: FilterSpec, server: ServerLocation = .remote
    ) -> FilterPlan? {
        guard !spec.isEmpty else { return nil }
        if let mix = spec.mix {
            return plan(mix: mix, spec: spec, leaseID: leaseID, target: target, peers: peers, direction: direction,
                        server: server)
        }
        let blocks = target.addressBlocks(peers: peers)
        let scopes: [IPPrefix?] = blocks.isEmpty ? [nil] : blocks
        let comment = Ownership.ruleCommentPrefix + leaseID + ": " + spec.summary
            + (spec.scope.map { ", scope \($0.brief)" } ?? "")
        var rules: [FilterRule] = []
        let (requests, responses): (FilterRule.Hook, FilterRule.Hook) =
            server == .local ? (.input, .output) : (.output, .input)
        for (side, hook, wanted) in [
            (PortMatch.Side.destination, requests, direction.matchesToServer),
            (.source, responses, direction.matchesFromServer)
        ] where wanted {
            for scope in scopes {
                func rule(_ flags: FilterRule.Flags?, _ loss: UInt32?, _ verdict: FilterRule.Verdict) -> FilterRule {
                    FilterRule(
                        hook: hook, side: side, peer: scope, flags: flags, lossThreshold: loss, verdict: verdict,
                        comment: comment)
                }
                switch spec.action {
                case .blackhole: rules.append(rule(nil, nil, .drop))
                case .reject where side == .destination: rules.append(rule(.synOnly, nil, .reset))
                case .reset: rules.append(rule(.notRst, nil, .reset))
                case .hang: rules.append(rule(.notSyn, nil, .drop))
                case .reject, nil: break
                }
                if let t = spec.lossThreshold { rules.append(rule(nil, t, .drop)) }
            }
        }
        let table = Ownership.tableName(leaseID: leaseID)
        let drawn = spec.connections != nil || spec.scope != nil
        let life = spec.life.flatMap {
            Self.life($0, server: server, direction: direction, scopes: scopes, chosen: drawn, comment: comment,
                      leads: spec.action == .hang)
        }
        guard drawn else {
            return FilterPlan(table: table, ports: target.ports, rules: rules, life: life)
        }
        return FilterPlan(
            table: table, ports: target.ports, rules: rules.flatMap { r in families(r.peer).map { r.chosen($0) } },
            share: decision(spec.connections, scope: spec.scope, server: server, scopes: scopes, comment: comment),
            life: life)
    }

    /// A rule's families: its address's, or both (one nf_tables key cannot hold both).
    static func families(_ peer: IPPrefix?) -> [IPAddress.Family] { peer.map { [$0.family] } ?? [.ipv4, .ipv6] }

    /// The rules that draw each new connection, in the chains its SYN passes on the way to the
    /// server: output for a remote server; for a local one input, and output too, which a
    /// loopback SYN passes first (the first draw holds). Per address block and family, the draw
    /// into `chosen`, then the rest into `passed`. With a scope, output only: there the SYN's
    /// socket is its sender's, while on input the kernel would find the server's listener.
    static func decision(
        _ share: ConnectionShare?, scope: SocketScope?, server: ServerLocation, scopes: [IPPrefix?], comment: String
    ) -> ShareDecision {
        var rules: [ShareRule] = []
        let hooks: [FilterRule.Hook] = server == .local && scope == nil ? [.output, .input] : [.output]
        for hook in hooks {
            for peer in scopes {
                for family in families(peer) {
                    rules.append(
                        ShareRule(hook: hook, peer: peer, family: family, draw: share, scope: scope, comment: comment))
                    rules.append(ShareRule(hook: hook, peer: peer, family: family, draw: nil, comment: comment))
                }
            }
        }
        let forgets = scope != nil && share == nil ? ForgetRule.pairs(rules) : nil
        return ShareDecision(share: share, scope: scope, rules: rules, forgets: forgets)
    }

    /// The decision that draws a lease's connections (--connections, a scope) and its netem
    /// steering rules for the drawn ones only, when the lease's netem bands are all steered by
    /// nf_tables on leaving packets (where a packet's socket is its sender's). `decided`: the
    /// connection faults' own decision, which the bands share, so a connection has one lot.
    public static func drawnSteering(
        _ steering: [FilterRule], share: ConnectionShare?, scope: SocketScope?, decided: ShareDecision?,
        target: Target, peers: [IPPrefix], server: ServerLocation, leaseID: String
    ) -> (rules: [FilterRule], share: ShareDecision) {
        let blocks = target.addressBlocks(peers: peers)
        let words = [share.map { "connections \($0)" }, scope.map { "scope \($0.brief)" }].compactMap { $0 }
        let comment = Ownership.ruleCommentPrefix + leaseID + ": " + words.joined(separator: ", ")
        let decision =
            decided
            ?? decision(share, scope: scope, server: server, scopes: blocks.isEmpty ? [nil] : blocks, comment: comment)
        return (steering.flatMap { r in families(r.peer).map { r.chosen($0) } }, decision)
    }

    /// The rules that steer a band's packets to it, one per side and address block of its
    /// matches (the ports are the set's; with no address one rule covers both families).
    public static func steering(_ band: BandPlan, leaseID: String) -> [FilterRule] {
        let what = band.phase.map { "\($0.option.dropFirst(2)) \(band.netem.delay ?? .zero)" } ?? band.netem.summary
        let comment = Ownership.ruleCommentPrefix + leaseID + ": " + what
        var seen: [FilterRule] = []
        for m in band.matches {
            let r = FilterRule.steer(
                device: band.device, band: band.band, side: m.side, peer: m.address, comment: comment,
                flags: band.phase?.flags(side: m.side) ?? (band.netem.sparesHandshake == true ? .notSyn : nil))
            if !seen.contains(r) { seen.append(r) }
        }
        return seen
    }
}

/// The traffic a lease's faults cover, to refuse a second lease of the same kind on it.
public struct FaultScope: Hashable, Sendable {
    public enum Kind: String, Sendable { case netem, netfilter }
    public let ports: Set<UInt16>
    /// nil: every address.
    public let addresses: [IPPrefix]?
    public let direction: Direction
    public let kinds: Set<Kind>
    /// Whose connections (--uid, --cgroup, run --scope command); nil: everyone's.
    public let socketScope: SocketScope?

    public init(target: Target, peers: [IPPrefix], direction: Direction, netem: NetemSpec, filter: FilterSpec) {
        ports = Set(target.ports)
        let blocks = target.addressBlocks(peers: peers)
        addresses = blocks.isEmpty ? nil : blocks
        self.direction = direction
        var k: Set<Kind> = []
        if !netem.isEmpty { k.insert(.netem) }
        if !filter.isEmpty { k.insert(.netfilter) }
        kinds = k
        socketScope = filter.scope
    }

    /// The kinds of fault both scopes put on the same packets; empty: no conflict.
    public func conflicts(with other: FaultScope) -> Set<Kind> {
        guard !ports.isDisjoint(with: other.ports) else { return [] }
        let sameWay =
            (direction.matchesToServer && other.direction.matchesToServer)
            || (direction.matchesFromServer && other.direction.matchesFromServer)
        guard sameWay else { return [] }
        // Two scopes no connection is in both of (two runs' cgroups) fault different packets.
        if let a = socketScope, let b = other.socketScope, !a.mayOverlap(b) { return [] }
        if let a = addresses, let b = other.addresses, !a.contains(where: { x in b.contains { x.overlaps($0) } }) {
            return []
        }
        return kinds.intersection(other.kinds)
    }
}
