import CNFTables
import Glibc
import NetFaultCore

// --reset-after, --hang-after and --limit-data as nf_tables expressions, in the order and shape
// nft 1.0.6 emits for the nftSyntax of TimerStart and LifeRule.

extension FilterRule {
    /// `KEY [!=] @SET` for a set of a connection's life (the batch's id names it too).
    static func lifeLookup(
        _ family: IPAddress.Family, side: PortMatch.Side, set: String, setID: UInt32, inverted: Bool = false
    ) -> [NFTExpression] {
        var lookup = NFTExpression.Lookup(set: set, setID: setID)
        lookup.flags = inverted ? UInt32(NFT_LOOKUP_F_INV.rawValue) : 0
        return connectionKey(family, side: side) + [.lookup(lookup)]
    }

    /// `KEY @seen KEY != @young`: a connection that began under the lease, longer ago than its timer.
    static func expiredMatch(_ family: IPAddress.Family, side: PortMatch.Side) -> [NFTExpression] {
        lifeLookup(
            family, side: side, set: Ownership.timerSet(young: false, family: family),
            setID: Ownership.timerSetID(young: false, family: family))
            + lifeLookup(
                family, side: side, set: Ownership.timerSet(young: true, family: family),
                setID: Ownership.timerSetID(young: true, family: family), inverted: true)
    }
}

extension TimerStart {
    var expressions: [NFTExpression] {
        var out = FilterRule.synToServer(peer: peer, family: family)
        out += FilterRule.lifeLookup(
            family, side: .destination, set: Ownership.timerSet(young: false, family: family),
            setID: Ownership.timerSetID(young: false, family: family), inverted: true)
        for young in [true, false] {
            out += FilterRule.connectionKey(family, side: .destination)
            out.append(
                .dynset(
                    .init(
                        NFT_DYNSET_OP_ADD, set: Ownership.timerSet(young: young, family: family),
                        setID: Ownership.timerSetID(young: young, family: family))))
        }
        return out
    }
}

extension SliceRule {
    var expressions: [NFTExpression] {
        var out = FilterRule.metaEquals(NFT_META_L4PROTO, [FilterRule.tcp])
        if let peer { out += FilterRule.peerMatch(peer, side: .destination) }
        out.append(.payload(.init(base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: 2, length: 2)))
        out.append(.lookup(.init(set: Ownership.leaseSet, setID: Ownership.leaseSetID)))
        out += FilterRule.flagsMatch(.synOnly)
        if let chosen {
            if peer == nil { out += FilterRule.familyMatch(chosen) }
            out += FilterRule.shareLookup(chosen, side: .destination, chosen: true)
        }
        out.append(.counter(.init()))
        // The MSS option (kind 2): its 2-byte value after kind and length, big-endian.
        out.append(.immediate(.data([UInt8(bytes >> 8), UInt8(bytes & 0xff)])))
        out.append(.exthdrWrite(.init(tcpOption: 2, offset: 2, length: 2)))
        return out
    }
}

extension LifeRule {
    var expressions: [NFTExpression] {
        var out = FilterRule.metaEquals(NFT_META_L4PROTO, [FilterRule.tcp])
        if let peer { out += FilterRule.peerMatch(peer, side: side) }
        out.append(.payload(.init(base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: side == .destination ? 2 : 0, length: 2)))
        out.append(.lookup(.init(set: Ownership.leaseSet, setID: Ownership.leaseSetID)))
        if let flags { out += FilterRule.flagsMatch(flags) }
        // nft checks the family before the first address load when no address match did.
        if peer == nil { out += FilterRule.familyMatch(family) }
        if chosen { out += FilterRule.shareLookup(family, side: side, chosen: true) }
        switch kind {
        case .expired: out += FilterRule.expiredMatch(family, side: side)
        case .overBudget(let bytes): out += FilterRule.budgetAdd(family, side: side, bytes: bytes)
        }
        out.append(.counter(.init()))
        switch verdict {
        case .reset: out.append(.reject(.init(NFT_REJECT_TCP_RST)))
        case .drop: out.append(.immediate(.verdict(NF_DROP)))
        case .resetReceiver: out += FilterRule.flagsToReset
        }
        return out
    }
}

extension FilterRule {
    /// `add @budgetN { KEY quota over BYTES bytes }`: each connection's own quota, kept in the set.
    static func budgetAdd(_ family: IPAddress.Family, side: PortMatch.Side, bytes: UInt64) -> [NFTExpression] {
        var add = NFTExpression.Dynset(
            NFT_DYNSET_OP_ADD, set: Ownership.budgetSet(family), setID: Ownership.budgetSetID(family))
        add.quota = .init(over: bytes)
        return connectionKey(family, side: side) + [.dynset(add)]
    }

    /// `tcp flags set rst | ack`: nft loads the data offset and flags (2 bytes at 12), keeps
    /// the offset, sets the flags to RST|ACK and writes them back with the checksum fixed up.
    static let flagsToReset: [NFTExpression] = [
        .payload(.init(base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: 12, length: 2)),
        .bitwise(.init(mask: [0xff, 0x00], xor: [0x00, rst | ack])),
        .payloadWrite(.init(base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: 12, length: 2, checksumOffset: 16))
    ]
}
