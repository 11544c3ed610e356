import CNFTables
import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

/// nf_tables requests, built with libnftnl into a libmnl batch buffer. Pure functions of their
/// input (no socket), so every byte is testable against what `nft` sends for the same rule.
public enum NFTablesRequests {
    /// Every table netfault makes is in the inet family: one rule set for IPv4 and IPv6.
    public static let family = UInt16(NFPROTO_INET)
    public static let subsystem = UInt16(NFNL_SUBSYS_NFTABLES)
    public static let tableOwnerFlag = NFT_TABLE_F_OWNER.rawValue

    /// nf_tables message types (NFT_MSG_*) as they appear in a netlink header.
    public static func messageType(_ msg: nf_tables_msg_types) -> UInt16 { subsystem << 8 | UInt16(msg.rawValue) }

    /// One atomic batch that creates the plan's table (owned by the sending socket), its set of
    /// ports with each element's `timeout` (in milliseconds, as the kernel counts it), the base
    /// chains its rules use, and the rules in plan order. Every object message asks for an ack;
    /// batch begin and end do not, as nft sends them. Seqs run from `seq` upwards.
    /// `dormant`: the table's base chains are not hooked in, so its rules see no packet (the
    /// feature probe checks that the kernel accepts them without touching any traffic).
    /// `lotMilliseconds`: the timeout of the --connections and connection-life sets, when not
    /// `timeoutMilliseconds`.
    public static func installBatch(
        _ plan: FilterPlan, timeoutMilliseconds: UInt64, lotMilliseconds: UInt64? = nil, dormant: Bool = false,
        seq: UInt32
    ) throws -> [UInt8] {
        var messages = [newTable(plan.table, owner: true, dormant: dormant), newSet(table: plan.table)]
        messages += shareSets(plan, timeoutMilliseconds: lotMilliseconds ?? timeoutMilliseconds)
        // A held lease's renewals refresh its ports, not the connections' timers and budgets.
        messages += lifeSets(plan, timeoutMilliseconds: lotMilliseconds ?? timeoutMilliseconds)
        messages += elements(table: plan.table, ports: plan.ports, timeoutMilliseconds: timeoutMilliseconds)
        messages += plan.hooks.map { newChain(table: plan.table, hook: $0) }
        // The draws first (after a scope's forgetting): a connection's lot is decided before any
        // fault rule looks it up.
        messages += (plan.share?.forgets ?? []).map { newRule(table: plan.table, $0) }
        messages += (plan.share?.rules ?? []).map { newRule(table: plan.table, $0) }
        // Then the timers' starts: a connection's clock runs from its first SYN.
        messages += (plan.life?.starts ?? []).map { newRule(table: plan.table, $0) }
        messages += (plan.life?.slices ?? []).map { newRule(table: plan.table, $0) }
        // A connection's end before its hang (LifePlan.leads), else after the fault rules.
        messages += LifePlan.ordered(
            faults: plan.rules.map { newRule(table: plan.table, $0) },
            ends: (plan.life?.rules ?? []).map { newRule(table: plan.table, $0) }, in: plan.life)
        return try batch(messages, seq: seq)
    }

    /// A batch that gives every port of a lease's set a fresh timeout: the set flushed and its
    /// elements added again, in one atomic batch, so no packet sees the set empty (changing an
    /// element's timeout in place needs kernel 6.10). Elements that expired already come back.
    public static func renewBatch(table: String, ports: [UInt16], timeoutMilliseconds: UInt64, seq: UInt32) throws
        -> [UInt8]
    {
        try batch(
            [flushSet(table: table)] + elements(table: table, ports: ports, timeoutMilliseconds: timeoutMilliseconds),
            seq: seq)
    }

    /// DELSETELEM without elements: every element of the lease's set goes (nft flush set).
    static func flushSet(table: String) -> Message {
        { buf, seq in
            let nlh = try header(buf, NFT_MSG_DELSETELEM, UInt16(NLM_F_ACK), seq)
            mnl_attr_put_strz(nlh, attr(NFTA_SET_ELEM_LIST_TABLE), table)
            mnl_attr_put_strz(nlh, attr(NFTA_SET_ELEM_LIST_SET), Ownership.leaseSet)
        }
    }

    /// A batch that creates just an empty table (the feature probe's test of the kernel).
    public static func tableBatch(name: String, owner: Bool, dormant: Bool = false, seq: UInt32) throws -> [UInt8] {
        try batch([newTable(name, owner: owner, dormant: dormant)], seq: seq)
    }

    /// A batch that deletes a table with everything in it.
    public static func deleteBatch(table: String, seq: UInt32) throws -> [UInt8] {
        try batch(
            [
                { buf, seq in
                    try TableObject(table).withPointer { t in
                        let nlh = try header(buf, NFT_MSG_DELTABLE, UInt16(NLM_F_ACK), seq)
                        nftnl_table_nlmsg_build_payload(nlh, t)
                    }
                }
            ], seq: seq)
    }

    /// Dump of every inet table (names, flags, owners).
    public static func getTables() throws -> NetlinkRequest {
        try single { buf in try header(buf, NFT_MSG_GETTABLE, UInt16(NLM_F_DUMP), 0) }
    }

    /// Dump of the rules of one inet table (the kernel filters by table name).
    public static func getRules(table: String) throws -> NetlinkRequest {
        try single { buf in
            try RuleObject().withPointer { r in
                nftnl_rule_set_str(r, attr(NFTNL_RULE_TABLE), table)
                let nlh = try header(buf, NFT_MSG_GETRULE, UInt16(NLM_F_DUMP), 0)
                nftnl_rule_nlmsg_build_payload(nlh, r)
                return nlh
            }
        }
    }

    /// An nf_tables message header in the inet family.
    static func header(
        _ buf: UnsafeMutablePointer<CChar>, _ type: nf_tables_msg_types, _ flags: UInt16,
        _ seq: UInt32
    ) throws -> UnsafeMutablePointer<nlmsghdr> {
        guard let nlh = nftnl_nlmsg_build_hdr(buf, messageType(type), family, flags, seq) else {
            throw outOfMemory("a message header")
        }
        return nlh
    }

    /// libnftnl or libmnl could not allocate: an error to report, not a trap.
    static func outOfMemory(_ what: String) -> KernelError {
        KernelError(
            operation: "building nf_tables messages", errno: ENOMEM, source: .netfault,
            detail: "libnftnl could not allocate \(what)")
    }

    // MARK: - Objects

    /// Writes one message at `buf` with sequence number `seq`.
    typealias Message = (_ buf: UnsafeMutablePointer<CChar>, _ seq: UInt32) throws -> Void

    static func newTable(_ name: String, owner: Bool, dormant: Bool = false) -> Message {
        { buf, seq in
            try TableObject(name).withPointer { t in
                let tableFlags = (owner ? tableOwnerFlag : 0) | (dormant ? NFT_TABLE_F_DORMANT.rawValue : 0)
                nftnl_table_set_u32(t, attr(NFTNL_TABLE_FLAGS), tableFlags)
                // EXCL: a table of the same name that someone else made is never taken over.
                let nlh = try header(buf, NFT_MSG_NEWTABLE, UInt16(NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK), seq)
                nftnl_table_nlmsg_build_payload(nlh, t)
            }
        }
    }

    /// The lease's set: `type inet_service; flags timeout;`, attributes and user data as nft
    /// sends them (the key's byte order as nft records it), with an id the rules' lookups name.
    static func newSet(table: String) -> Message {
        { buf, seq in
            guard let set = nftnl_set_alloc() else { throw outOfMemory("a set") }
            defer { nftnl_set_free(set) }
            nftnl_set_set_str(set, attr(NFTNL_SET_TABLE), table)
            nftnl_set_set_str(set, attr(NFTNL_SET_NAME), Ownership.leaseSet)
            nftnl_set_set_u32(set, attr(NFTNL_SET_FLAGS), UInt32(NFT_SET_TIMEOUT.rawValue))
            nftnl_set_set_u32(set, attr(NFTNL_SET_KEY_TYPE), inetServiceType)
            nftnl_set_set_u32(set, attr(NFTNL_SET_KEY_LEN), 2)
            nftnl_set_set_u32(set, attr(NFTNL_SET_ID), Ownership.leaseSetID)
            // NFTNL_UDATA_SET_KEYBYTEORDER (0), 4 bytes: BYTEORDER_BIG_ENDIAN (2), host-endian.
            let udata: [UInt8] = [0, 4] + withUnsafeBytes(of: UInt32(2)) { Array($0) }
            _ = nftnl_set_set_data(set, attr(NFTNL_SET_USERDATA), udata, UInt32(udata.count))
            let nlh = try header(buf, NFT_MSG_NEWSET, UInt16(NLM_F_CREATE | NLM_F_ACK), seq)
            nftnl_set_nlmsg_build_payload(nlh, set)
        }
    }

    /// nft's datatype number for inet_service (TYPE_INET_SERVICE).
    static let inetServiceType: UInt32 = 13
    /// Each element takes about 40 bytes of a message; this many fit one `messageRoom`.
    static let elementsPerMessage = 64

    /// The ports in messages of a bounded size: 10,000 ports take one batch of small messages.
    static func elements(table: String, ports: [UInt16], timeoutMilliseconds: UInt64) -> [Message] {
        stride(from: 0, to: ports.count, by: elementsPerMessage).map { start in
            newElements(
                table: table, ports: Array(ports[start..<min(start + elementsPerMessage, ports.count)]),
                timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    /// Ports added to the lease's set, each expiring after `timeoutMilliseconds`.
    static func newElements(table: String, ports: [UInt16], timeoutMilliseconds: UInt64) -> Message {
        { buf, seq in
            guard let set = nftnl_set_alloc() else { throw outOfMemory("a set") }
            defer { nftnl_set_free(set) }  // frees the elements added to it
            for port in ports {
                guard let e = nftnl_set_elem_alloc() else { throw outOfMemory("a set element") }
                let key = [UInt8(port >> 8), UInt8(port & 0xff)]
                _ = nftnl_set_elem_set(e, attr(NFTNL_SET_ELEM_KEY), key, UInt32(key.count))
                nftnl_set_elem_set_u64(e, attr(NFTNL_SET_ELEM_TIMEOUT), timeoutMilliseconds)
                nftnl_set_elem_add(set, e)
            }
            // Table, set and id first, as nft puts them; libnftnl then adds only the elements.
            let nlh = try header(buf, NFT_MSG_NEWSETELEM, UInt16(NLM_F_CREATE | NLM_F_ACK), seq)
            mnl_attr_put_strz(nlh, attr(NFTA_SET_ELEM_LIST_TABLE), table)
            mnl_attr_put_strz(nlh, attr(NFTA_SET_ELEM_LIST_SET), Ownership.leaseSet)
            mnl_attr_put_u32(nlh, attr(NFTA_SET_ELEM_LIST_SET_ID), Ownership.leaseSetID.bigEndian)
            nftnl_set_elems_nlmsg_build_payload(nlh, set)
        }
    }

    /// The base chain for `hook`: type filter, priority Ownership.chainPriority, policy accept.
    /// Attributes in nft's order (table, name, type, policy, then libnftnl's hook nest), so the
    /// bytes equal what `nft add chain` sends.
    static func newChain(table: String, hook: FilterRule.Hook) -> Message {
        { buf, seq in
            guard let c = nftnl_chain_alloc() else { throw outOfMemory("a chain") }
            defer { nftnl_chain_free(c) }
            nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_HOOKNUM), hookNumber(hook))
            nftnl_chain_set_s32(c, attr(NFTNL_CHAIN_PRIO), Ownership.chainPriority)
            let nlh = try header(buf, NFT_MSG_NEWCHAIN, UInt16(NLM_F_CREATE | NLM_F_ACK), seq)
            mnl_attr_put_strz(nlh, attr(NFTA_CHAIN_TABLE), table)
            mnl_attr_put_strz(nlh, attr(NFTA_CHAIN_NAME), hook.rawValue)
            mnl_attr_put_strz(nlh, attr(NFTA_CHAIN_TYPE), "filter")
            mnl_attr_put_u32(nlh, attr(NFTA_CHAIN_POLICY), UInt32(NF_ACCEPT).bigEndian)
            nftnl_chain_nlmsg_build_payload(nlh, c)
        }
    }

    static func hookNumber(_ hook: FilterRule.Hook) -> UInt32 {
        switch hook {
        case .output: NF_INET_LOCAL_OUT.rawValue
        case .input: NF_INET_LOCAL_IN.rawValue
        }
    }

    /// Attributes in nft's order (table, chain, libnftnl's expressions, then the comment), so
    /// the bytes equal what `nft add rule` sends.
    static func newRule(table: String, _ rule: some LeaseTableRule) -> Message {
        newRule(table: table, chain: rule.hook.rawValue, expressions: rule.expressions, comment: rule.comment)
    }

    static func newRule(table: String, chain: String, expressions: [NFTExpression], comment: String) -> Message {
        { buf, seq in
            try RuleObject().withPointer { r in
                for e in expressions { nftnl_rule_add_expr(r, try e.allocate()) }  // the rule owns them now
                let nlh = try header(buf, NFT_MSG_NEWRULE, UInt16(NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK), seq)
                mnl_attr_put_strz(nlh, attr(NFTA_RULE_TABLE), table)
                mnl_attr_put_strz(nlh, attr(NFTA_RULE_CHAIN), chain)
                nftnl_rule_nlmsg_build_payload(nlh, r)
                try putComment(nlh, comment)
            }
        }
    }

    /// The comment as nft stores it: a NFTNL_UDATA_RULE_COMMENT TLV, NUL-terminated.
    static func putComment(_ nlh: UnsafeMutablePointer<nlmsghdr>, _ text: String) throws {
        let comment = Array(text.utf8.prefix(Int(NFT_USERDATA_MAXLEN) - 3)) + [0]
        guard let ud = nftnl_udata_buf_alloc(UInt32(NFT_USERDATA_MAXLEN)) else { throw outOfMemory("user data") }
        defer { nftnl_udata_buf_free(ud) }
        guard nftnl_udata_put(ud, UInt8(NFTNL_UDATA_RULE_COMMENT.rawValue), UInt32(comment.count), comment) else {
            throw outOfMemory("the rule's comment")
        }
        mnl_attr_put(nlh, attr(NFTA_RULE_USERDATA), Int(nftnl_udata_buf_len(ud)), nftnl_udata_buf_data(ud))
    }

    // MARK: - Buffers

    /// Room for one message: the largest rule (an unaligned IPv6 prefix, a random draw and a
    /// 255-byte comment) is under 1 KiB.
    static let messageRoom = 4096

    /// batch begin, the messages, batch end, in a libmnl batch buffer.
    static func batch(_ messages: [Message], seq: UInt32) throws -> [UInt8] {
        let limit = (messages.count + 2) * messageRoom
        // libmnl lets the last message run past the limit, so the buffer is twice as large.
        let buf = UnsafeMutableRawPointer.allocate(byteCount: 2 * limit, alignment: 8)
        buf.initializeMemory(as: UInt8.self, repeating: 0, count: 2 * limit)
        defer { buf.deallocate() }
        guard let b = mnl_nlmsg_batch_start(buf, limit) else { throw outOfMemory("a batch buffer") }
        defer { mnl_nlmsg_batch_stop(b) }
        var s = seq
        func put(_ m: Message) throws {
            try m(mnl_nlmsg_batch_current(b).assumingMemoryBound(to: CChar.self), s)
            s &+= 1
            // false: the buffer is full, and the message just written would be dropped.
            guard mnl_nlmsg_batch_next(b) else {
                throw KernelError(
                    operation: "building nf_tables messages", errno: EMSGSIZE, source: .netfault,
                    detail: "message \(s &- seq) of \(messages.count + 2) does not fit the batch buffer")
            }
        }
        try put { buf, seq in _ = nftnl_batch_begin(buf, seq) }
        try messages.forEach(put)
        try put { buf, seq in _ = nftnl_batch_end(buf, seq) }
        return Array(UnsafeRawBufferPointer(start: mnl_nlmsg_batch_head(b), count: mnl_nlmsg_batch_size(b)))
    }

    /// One message outside a batch, as a request the socket stamps with its own seq.
    static func single(
        _ build: (UnsafeMutablePointer<CChar>) throws -> UnsafeMutablePointer<nlmsghdr>
    ) throws -> NetlinkRequest {
        var buf = [CChar](repeating: 0, count: messageRoom)
        return try buf.withUnsafeMutableBufferPointer { p in
            let nlh = try build(p.baseAddress!)
            let bytes = UnsafeRawBufferPointer(start: nlh, count: Int(nlh.pointee.nlmsg_len))
            return NetlinkRequest(
                type: nlh.pointee.nlmsg_type, flags: nlh.pointee.nlmsg_flags,
                payload: Array(bytes[nlmsgHeaderSize...]))
        }
    }
}

/// libnftnl attribute numbers are C enums; every setter takes them as uint16_t.
@inline(__always) func attr<T: RawRepresentable>(_ a: T) -> UInt16 where T.RawValue: BinaryInteger {
    UInt16(a.rawValue)
}
@inline(__always) func attr(_ a: Int) -> UInt16 { UInt16(a) }
@inline(__always) func attr(_ a: Int32) -> UInt16 { UInt16(a) }

/// A libnftnl table freed with its owner. The C object is reached only through `withPointer`,
/// which keeps the owner alive while C uses it (Swift may free an object after its last use).
final class TableObject {
    private let pointer: OpaquePointer
    init(_ name: String? = nil) throws {
        guard let t = nftnl_table_alloc() else { throw NFTablesRequests.outOfMemory("a table") }
        pointer = t
        if let name { nftnl_table_set_str(t, attr(NFTNL_TABLE_NAME), name) }
    }
    deinit { nftnl_table_free(pointer) }
    func withPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(pointer) }
    }
}

/// A libnftnl rule (and the expressions added to it) freed with its owner; see TableObject.
final class RuleObject {
    private let pointer: OpaquePointer
    init() throws {
        guard let r = nftnl_rule_alloc() else { throw NFTablesRequests.outOfMemory("a rule") }
        pointer = r
    }
    deinit { nftnl_rule_free(pointer) }
    func withPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(pointer) }
    }
}
