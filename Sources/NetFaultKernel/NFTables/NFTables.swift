import CNetlink
import CNFTables
import FoundationEssentials
import Glibc
import NetFaultCore

/// One rule read back from a table: where it is, whose it is, what it counted, what it does.
public struct InstalledRule: Sendable, Equatable {
    public let chain: String
    public let handle: UInt64
    /// The rule's comment (user data); netfault's start with Ownership.ruleCommentPrefix.
    public let comment: String?
    public let packets: UInt64
    public let bytes: UInt64
    /// The rule in nft's language when it has a shape netfault makes (FilterRule.nftSyntax),
    /// else libnftnl's listing of its expressions.
    public let text: String
    /// A rule that steers packets to a netem band (whose qdisc counts them too).
    public let steers: Bool
    /// A --connections draw (it adds to a set): true into `chosen`, false into `passed`; its
    /// counter counts the connections drawn (one SYN each). nil: any other rule.
    public let draws: Bool?
    /// The set a draw adds to (a mix has one per group); nil: no draw.
    public let drawnInto: String?

    public init(
        chain: String, handle: UInt64, comment: String?, packets: UInt64, bytes: UInt64, text: String,
        steers: Bool = false, draws: Bool? = nil, drawnInto: String? = nil
    ) {
        self.chain = chain; self.handle = handle; self.comment = comment
        self.packets = packets; self.bytes = bytes; self.text = text; self.steers = steers; self.draws = draws
        self.drawnInto = drawnInto
    }
}

/// An inet table as the kernel lists it.
public struct TableInfo: Sendable, Equatable {
    public let name: String
    /// Created with NFT_TABLE_F_OWNER: it exists only while its owner's socket is open, so an
    /// owned table is never an orphan.
    public let owned: Bool
}

/// nf_tables through a NETLINK_NETFILTER socket: installs a lease's table in one atomic batch,
/// reads tables and rules back, removes a table.
///
/// Ownership: `install` creates its table with NFT_TABLE_F_OWNER, so the table belongs to this
/// object's socket. The kernel deletes it when the socket closes: when this object is released
/// or the process exits or dies, SIGKILL included. Keep the object alive for as long as the
/// faults should last (the watchdog holds it). While the owner lives, only its socket may change
/// or delete the table: `remove` from any other socket (another NFTables, another process)
/// fails with EPERM. Reading (`tables`, `rules`) works from any socket.
public final class NFTables {
    public let socket: NetlinkSocket

    public init(socket: NetlinkSocket) { self.socket = socket }

    /// A netfilter socket in `netns`, or in this process's own namespace when nil.
    public static func open(in netns: NetworkNamespace?) throws -> NFTables {
        NFTables(socket: try NetlinkSocket.open(in: netns, netlinkProtocol: NETLINK_NETFILTER))
    }

    /// The netfilter socket `fd` that another netfault process made and passed on: its tables
    /// are this process's to keep and remove.
    public static func adopting(fd: Int32) throws -> NFTables {
        NFTables(socket: try NetlinkSocket(adopting: fd, netlinkProtocol: NETLINK_NETFILTER))
    }

    /// The socket's descriptor, to pass to the process that will own its tables.
    public var fileDescriptor: Int32? { socket.fileDescriptor }

    /// This socket closes as soon as it is released, never kept open to exit: its tables must go
    /// with it now (a failed apply), or with the other process that holds it too (the watchdog).
    public func closeAtOnce() { (socket.transport as? LibnlTransport)?.closeMayWait = false }

    /// Milliseconds added to every element timeout: one jiffy at HZ=100.
    public static let tickMargin: UInt64 = 10

    /// A set element's timeout in the kernel's unit (milliseconds): rounded up, plus one tick.
    static func elementTimeout(_ timeout: Duration) -> UInt64 {
        UInt64(max(1, (timeout.nanoseconds + 999_999) / 1_000_000)) + tickMargin
    }

    /// Creates the plan's table (owned by this socket), its set of ports whose elements expire
    /// after `timeout`, its base chains and rules, all or nothing. Fails with EEXIST if a table
    /// of that name exists already.
    /// `lots`: the timeout of the --connections draws, when not `timeout` (a held lease's).
    public func install(_ plan: FilterPlan, timeout: Duration, lots: Duration? = nil, dormant: Bool = false) throws {
        // The kernel takes milliseconds but expires elements on jiffies, counted from the tick
        // before the batch: an element could end up to a tick early (make bench measured 0.6 ms).
        // Round up and add one tick of the coarsest kernel clock (HZ=100), so the faults never
        // end early.
        let ms = Self.elementTimeout(timeout)
        try socket.batch(
            {
                try NFTablesRequests.installBatch(
                    plan, timeoutMilliseconds: ms, lotMilliseconds: lots.map(Self.elementTimeout), dormant: dormant,
                    seq: $0)
            },
            "installing nf_tables table \(plan.table)")
    }

    /// Gives the ports of a table this socket owns a fresh `timeout` (netfault serve keeps its
    /// leases alive this way: stopped, it stops renewing and the kernel ends the faults).
    public func renew(table: String, ports: [UInt16], timeout: Duration) throws {
        let ms = Self.elementTimeout(timeout)
        try socket.batch(
            { try NFTablesRequests.renewBatch(table: table, ports: ports, timeoutMilliseconds: ms, seq: $0) },
            "renewing the ports of nf_tables table \(table)")
    }

    /// Deletes a table and everything in it; false if there was none (ENOENT).
    @discardableResult
    public func remove(table: String) throws -> Bool {
        do {
            try socket.batch(
                { try NFTablesRequests.deleteBatch(table: table, seq: $0) }, "removing nf_tables table \(table)")
            return true
        } catch let e as KernelError where e.errno == ENOENT {
            return false
        }
    }

    /// The names of the inet tables (every owner's, not only netfault's).
    public func tables() throws -> [String] { try tableInfo().map(\.name) }

    /// The inet tables with whether a socket owns them (and so dies with its process).
    public func tableInfo() throws -> [TableInfo] {
        try dump(try NFTablesRequests.getTables(), "listing nf_tables tables").compactMap(NFTablesReplies.table)
    }

    /// The rules of an inet table, in chain order; empty when there is no such table.
    public func rules(in table: String) throws -> [InstalledRule] {
        try dump(try NFTablesRequests.getRules(table: table), "listing the rules of nf_tables table \(table)")
            .compactMap(NFTablesReplies.installedRule)
    }

    /// A dump; asked again when the rule set changed while the kernel was writing it.
    private func dump(_ request: NetlinkRequest, _ operation: String) throws -> [NetlinkMessage] {
        try socket.dump(request, operation)
    }
}

/// Decoding of nf_tables replies with libnftnl.
enum NFTablesReplies {
    /// The whole message, as libnftnl's parsers want it.
    static func withHeader<R>(_ msg: NetlinkMessage, _ body: (UnsafePointer<nlmsghdr>) -> R) -> R {
        return msg.bytes.withUnsafeBytes { body($0.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)) }
    }

    static func table(_ msg: NetlinkMessage) -> TableInfo? {
        guard msg.type == NFTablesRequests.messageType(NFT_MSG_NEWTABLE),
            msg.payload.first == UInt8(NFTablesRequests.family)
        else { return nil }
        return (try? TableObject())?.withPointer { t in
            guard withHeader(msg, { nftnl_table_nlmsg_parse($0, t) }) >= 0,
                let name = nftnl_table_get_str(t, attr(NFTNL_TABLE_NAME))
            else { return nil }
            let flags = nftnl_table_get_u32(t, attr(NFTNL_TABLE_FLAGS))
            return TableInfo(name: String(cString: name), owned: flags & NFTablesRequests.tableOwnerFlag != 0)
        }
    }

    static func installedRule(_ msg: NetlinkMessage) -> InstalledRule? {
        guard msg.type == NFTablesRequests.messageType(NFT_MSG_NEWRULE) else { return nil }
        return parsedRule(msg) { r in
            let chain = nftnl_rule_get_str(r, attr(NFTNL_RULE_CHAIN)).map { String(cString: $0) } ?? ""
            let typed = typedExpressions(r)
            let counter = typed.compactMap { $0?.counter }.last ?? NFTExpression.Counter()
            let parsed = filterRule(r)
            let draws = ShareRule(hook: chain, expressions: typed.compactMap { $0 }, comment: comment(r) ?? "")
            let text =
                parsed?.nftSyntax ?? draws?.nftSyntax
                ?? ForgetRule(hook: chain, expressions: typed.compactMap { $0 }, comment: comment(r) ?? "")?.nftSyntax
                ?? lifeSyntax(chain, typed, comment(r) ?? "")
                ?? listing(r).split(separator: "\n").dropFirst()
                .map { $0.trimmed }.joined(separator: " ")
            return InstalledRule(
                chain: chain, handle: nftnl_rule_get_u64(r, attr(NFTNL_RULE_HANDLE)),
                comment: comment(r), packets: counter.packets, bytes: counter.bytes, text: text,
                steers: parsed?.verdict == .steer, draws: draws.map(\.chooses), drawnInto: draws?.set)
        }
    }

    /// `body` on the rule a NEWRULE message carries; nil if it does not parse.
    static func parsedRule<R>(_ msg: NetlinkMessage, _ body: (OpaquePointer) -> R?) -> R? {
        (try? RuleObject())?.withPointer { r in
            withHeader(msg, { nftnl_rule_nlmsg_parse($0, r) }) >= 0 ? body(r) : nil
        }
    }

    /// libnftnl's text of a NEWRULE message, as `nft --debug=netlink` prints it; nil if it does not parse.
    static func listing(ofRuleMessage bytes: [UInt8]) -> String? {
        guard let msg = NetlinkMessage.parse(bytes).first else { return nil }
        return parsedRule(msg) { listing($0) }
    }

    /// The FilterRule a NEWRULE message carries, if it has a shape netfault makes.
    static func filterRule(ofRuleMessage bytes: [UInt8]) -> FilterRule? {
        guard let msg = NetlinkMessage.parse(bytes).first else { return nil }
        return parsedRule(msg) { filterRule($0) }
    }

    static func listing(_ r: OpaquePointer) -> String {
        var buf = [UInt8](repeating: 0, count: 16384)
        let n = buf.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) {
                nftnl_rule_snprintf($0.baseAddress, $0.count, r, UInt32(NFTNL_OUTPUT_DEFAULT.rawValue), 0)
            }
        }
        return String(decoding: buf.prefix(max(0, min(Int(n), buf.count - 1))), as: UTF8.self)
    }

    /// The comment TLV (NFTNL_UDATA_RULE_COMMENT) in the rule's user data.
    static func comment(_ r: OpaquePointer) -> String? {
        var len: UInt32 = 0
        guard let p = nftnl_rule_get_data(r, attr(NFTNL_RULE_USERDATA), &len) else { return nil }
        let ud = Array(UnsafeRawBufferPointer(start: p, count: Int(len)))
        var i = 0
        while i + 2 <= ud.count {
            let type = ud[i], n = Int(ud[i + 1])
            guard i + 2 + n <= ud.count else { break }
            if type == UInt8(NFTNL_UDATA_RULE_COMMENT.rawValue) {
                return String(decoding: ud[(i + 2)..<(i + 2 + n)].prefix { $0 != 0 }, as: UTF8.self)
            }
            i += 2 + n
        }
        return nil
    }

    static func expressions(_ r: OpaquePointer) -> [OpaquePointer] {
        guard let it = nftnl_expr_iter_create(r) else { return [] }
        defer { nftnl_expr_iter_destroy(it) }
        var out: [OpaquePointer] = []
        while let e = nftnl_expr_iter_next(it) { out.append(e) }
        return out
    }

    /// The rule's expressions, typed; nil for one of a kind netfault does not know.
    static func typedExpressions(_ r: OpaquePointer) -> [NFTExpression?] {
        expressions(r).map(NFTExpression.init(decoding:))
    }

    /// The FilterRule a rule object carries, if it has a shape netfault makes.
    static func filterRule(_ r: OpaquePointer) -> FilterRule? {
        let typed = typedExpressions(r)
        guard let chain = nftnl_rule_get_str(r, attr(NFTNL_RULE_CHAIN)).map({ String(cString: $0) }),
            !typed.contains(where: { $0 == nil })
        else { return nil }
        return FilterRule(hook: chain, expressions: typed.compactMap { $0 }, comment: comment(r) ?? "")
    }
}
