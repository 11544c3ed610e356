/// A scope's choice is kept by the connection's addresses and ports, which a later connection can
/// take over: a connect that was never answered leaves no TIME-WAIT to hold its source port, so
/// an outsider may soon reuse it and meet the scope's faults (or the command reuse an outsider's
/// and escape them). A scope alone is a pure function of the SYN's socket, so each SYN is decided
/// afresh: these rules, first in the chain, forget the key's lot and the draws that follow decide
/// it again (a resent SYN of the same socket gets the same lot). Not with a share: a resent SYN
/// would be drawn again.
public struct ForgetRule: Hashable, Codable, Sendable {
    public let hook: FilterRule.Hook
    /// The server's addresses (as the lease's rules narrow them); nil: any.
    public let peer: IPPrefix?
    public let family: IPAddress.Family
    /// Forgets from `chosen` (else from `passed`).
    public let chosen: Bool
    public let comment: String

    public init(hook: FilterRule.Hook, peer: IPPrefix?, family: IPAddress.Family, chosen: Bool, comment: String) {
        self.hook = hook; self.peer = peer; self.family = family; self.chosen = chosen; self.comment = comment
    }

    public var set: String { Ownership.shareSet(chosen: chosen, family: family) }

    public var nftSyntax: String {
        let key = connectionKeySyntax(family: family, side: .destination)
        return (synToServerSyntax(peer: peer) + ["delete @\(set) { \(key) }", "comment \"\(comment)\""])
            .joined(separator: " ")
    }

    /// The two rules per chain, address block and family that come before a scope's draws.
    static func pairs(_ rules: [ShareRule]) -> [ForgetRule] {
        rules.filter { $0.chooses }.flatMap { r in
            [true, false].map {
                ForgetRule(hook: r.hook, peer: r.peer, family: r.family, chosen: $0, comment: r.comment)
            }
        }
    }
}
