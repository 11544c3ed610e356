import CNFTables
import CNetlink
import Glibc
import NetFaultCore

extension NFTablesRequests {
    /// nft's datatypes (TYPE_IPADDR, TYPE_IP6ADDR, TYPE_INET_SERVICE), and how it numbers a
    /// concatenation: each part's type in 6 bits, the first part highest.
    static func concatenationType(_ family: IPAddress.Family) -> UInt32 {
        let address: UInt32 = family == .ipv4 ? 7 : 8
        return [address, inetServiceType, address, inetServiceType].reduce(0) { $0 << 6 | $1 }
    }

    /// A --connections set: `type ADDR . inet_service . ADDR . inet_service; flags dynamic,timeout;
    /// size 65536; timeout LEASE`, as nft sends it. Elements added from the packet path take the
    /// set's timeout, so none outlives the lease by more than the lease's length, and the table
    /// goes at the deadline anyway. A held lease (serve) renews a short timeout: its draws get a
    /// long one, or a connection would be drawn out after one timeout; every rule that looks a
    /// draw up also matches the lease's ports, whose elements still end the faults.
    static func newShareSet(table: String, chosen: Bool, family: IPAddress.Family, timeoutMilliseconds: UInt64)
        -> Message
    {
        newShareSet(table: table, group: chosen ? 0 : nil, family: family, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// A mix's set of group `group` (nil: passed); the first group's is `chosen`'s.
    static func newShareSet(table: String, group: Int?, family: IPAddress.Family, timeoutMilliseconds: UInt64)
        -> Message
    {
        newConnectionSet(
            table: table, name: Ownership.shareSet(group: group, family: family),
            id: Ownership.shareSetID(group: group, family: family), family: family,
            timeoutMilliseconds: timeoutMilliseconds)
    }

    /// A set keyed by a connection's addresses and ports (--connections', the connection timers',
    /// the byte budgets'), as nft sends it.
    static func newConnectionSet(
        table: String, name: String, id: UInt32, family: IPAddress.Family, timeoutMilliseconds: UInt64
    ) -> Message {
        { buf, seq in
            guard let set = nftnl_set_alloc() else { throw outOfMemory("a set") }
            defer { nftnl_set_free(set) }
            nftnl_set_set_str(set, attr(NFTNL_SET_TABLE), table)
            nftnl_set_set_str(set, attr(NFTNL_SET_NAME), name)
            nftnl_set_set_u32(set, attr(NFTNL_SET_FLAGS), NFT_SET_TIMEOUT.rawValue | NFT_SET_EVAL.rawValue)
            nftnl_set_set_u32(set, attr(NFTNL_SET_KEY_TYPE), concatenationType(family))
            // Each field in 4-byte registers: address, port (2 of 4), address, port.
            nftnl_set_set_u32(set, attr(NFTNL_SET_KEY_LEN), family == .ipv4 ? 16 : 40)
            nftnl_set_set_u32(set, attr(NFTNL_SET_ID), id)
            nftnl_set_set_u32(set, attr(NFTNL_SET_DESC_SIZE), Ownership.shareSetSize)
            nftnl_set_set_u64(set, attr(NFTNL_SET_TIMEOUT), timeoutMilliseconds)
            // nft's user data for a concatenated key: NFTNL_UDATA_SET_KEYBYTEORDER 0 (mixed), and
            // the NFTNL_UDATA_SET_KEY_TYPEOF record nft 1.0.6 writes for it.
            let udata: [UInt8] = [0, 4, 0, 0, 0, 0, 3, 8, 0, 4, 0x0d, 0, 0, 0, 1, 0]
            _ = nftnl_set_set_data(set, attr(NFTNL_SET_USERDATA), udata, UInt32(udata.count))
            let nlh = try header(buf, NFT_MSG_NEWSET, UInt16(NLM_F_CREATE | NLM_F_ACK), seq)
            nftnl_set_nlmsg_build_payload(nlh, set)
        }
    }

    /// The plan's --connections sets, chosen (each group's in a mix) and passed per family its
    /// rules draw in.
    static func shareSets(_ plan: FilterPlan, timeoutMilliseconds: UInt64) -> [Message] {
        (plan.share?.families ?? []).flatMap { family in
            (plan.share?.sets ?? []).map {
                newShareSet(table: plan.table, group: $0, family: family, timeoutMilliseconds: timeoutMilliseconds)
            }
        }
    }
}
