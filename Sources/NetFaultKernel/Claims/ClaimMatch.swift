import FoundationEssentials

/// Which sockets hold which claim: pure, from a unix_diag listing, so it is testable without a
/// kernel.
enum ClaimMatch {
    /// A fresh address for `name`: the name, "/" and 128 bits from the system's secure random
    /// source (getrandom), in hex. Nobody can bind it first, since nobody can guess it.
    static func address(for name: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let random = [rng.next() as UInt64, rng.next() as UInt64].map { part in
            let hex = String(part, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }
        return "\(name)/\(random.joined())"
    }

    /// Whether a socket bound to `address` holds `name`: its address is the name followed by
    /// "/" (the random part), or the name itself (a netfault from before random addresses).
    static func isAddress(_ address: [UInt8], of name: [UInt8]) -> Bool {
        guard address.starts(with: name) else { return false }
        return address.count == name.count || address[name.count] == UInt8(ascii: "/")
    }

    /// The listeners that hold each of `names`: bound to one of its addresses and owned by one
    /// of `uids`, other than the sockets `excluding` (the caller's own). Names nobody holds are
    /// left out.
    static func holding(
        _ names: [String], in listeners: [UnixListener], uids: Set<UInt32>, excluding: Set<UInt32> = []
    ) -> [String: [UnixListener]] {
        let counted = listeners.filter { l in
            l.abstractName != nil && l.uid.map(uids.contains) == true && !excluding.contains(l.inode)
        }
        var found: [String: [UnixListener]] = [:]
        for name in names {
            let bytes = Array(name.utf8)
            let holders = counted.filter { isAddress($0.abstractName!, of: bytes) }
            if !holders.isEmpty { found[name] = holders }
        }
        return found
    }
}
