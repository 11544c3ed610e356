import FoundationEssentials
import Glibc

/// `--connections 30%:reject,10%:hang`: several connection faults, each on a share of new
/// connections of its own, the rest untouched (Vaurien's `--behavior 30:error,10:hang`). Each new
/// connection gets one lot, at its SYN, so no connection is in two groups: as if one number were
/// drawn per connection and split into ranges ([0, 30%) reject, [30%, 40%) hang). nf_tables draws
/// anew in each rule, so the groups draw in turn, each among the connections the groups before
/// it left, at its share of those (10% of all is 1/7 of the 70% the first group left).
public struct ConnectionMix: Hashable, Codable, Sendable, CustomStringConvertible {
    public struct Group: Hashable, Codable, Sendable {
        public let share: Percent
        public let action: FilterSpec.Action
        public init(share: Percent, action: FilterSpec.Action) { self.share = share; self.action = action }
    }

    public let groups: [Group]
    public init(groups: [Group]) { self.groups = groups }

    /// One set and one draw rule per group and family: a bound on what one lease makes.
    public static let largestGroups = 4

    /// A mix names a fault after each share (`P%:FAULT`); `every:N` is not one.
    public static func isMix(_ text: String) -> Bool {
        let t = text.trimmed.lowercased()
        return t.contains(":") && !t.hasPrefix("every:")
    }

    public static func parse(_ text: String) throws -> ConnectionMix {
        let items = text.trimmed.lowercased().split(separator: ",", omittingEmptySubsequences: false)
        guard items.count <= largestGroups else {
            throw InputError("--connections '\(text)' has \(items.count) groups; a mix takes at most \(largestGroups)")
        }
        var groups: [Group] = []
        for item in items {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmed }
            let faults = FilterSpec.Action.allCases.map(\.rawValue).joined(separator: ", ")
            guard parts.count == 2, parts[0].hasSuffix("%"), let action = FilterSpec.Action(rawValue: parts[1]) else {
                throw InputError(
                    """
                    --connections '\(text)': '\(item)' is not SHARE:FAULT; give e.g. 30%:reject,10%:hang, each fault \
                    one of \(faults)
                    """)
            }
            let share = try Percent.parse(parts[0], what: "--connections")
            guard share.value > 0, (ConnectionShare.percent(share).threshold ?? 0) > 0 else {
                throw InputError("--connections '\(text)': \(share) picks no connection; give 0.0001% or more")
            }
            guard !groups.contains(where: { $0.action == action }) else {
                throw InputError("--connections '\(text)' names \(action.rawValue) twice; give it one share")
            }
            groups.append(Group(share: share, action: action))
        }
        let total = groups.map(\.share.value).reduce(0, +)
        guard total <= 100 + 1e-9 else {
            throw InputError(
                "--connections '\(text)': the shares add up to \(Percent(total)); a connection is in one group at most")
        }
        return ConnectionMix(groups: groups)
    }

    /// Group `k`'s draw: its share of the connections the groups before it left.
    public func draw(_ k: Int) -> ConnectionShare {
        let left = 100 - groups[..<k].map(\.share.value).reduce(0, +)
        let share = left <= 0 ? 0 : min(100, groups[k].share.value / left * 100)
        return .percent(Percent((share * 10_000).rounded() / 10_000))
    }

    public var description: String { groups.map { "\($0.share):\($0.action.rawValue)" }.joined(separator: ",") }

    /// The rules no kernel enforces but a person would trip over (each group's fault as on its own).
    public func validate(direction: Direction, netem: NetemSpec) throws {
        guard netem.isEmpty else {
            throw InputError(
                """
                --connections \(self) takes only connection faults (a lease has one netem band, not one per \
                group); give netem faults in a lease of their own, with a share of their own (--connections P%)
                """)
        }
        for g in groups { try FilterSpec(action: g.action).validate(direction: direction, netem: netem) }
    }
}
