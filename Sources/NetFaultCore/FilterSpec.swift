import FoundationEssentials
import Glibc

/// The connection faults netfilter (nf_tables) applies, as the user gave them.
public struct FilterSpec: Hashable, Codable, Sendable {
    /// What happens to the matched packets of a connection.
    public enum Action: String, Codable, Sendable, CaseIterable {
        /// Dropped silently: connect times out, open connections stall (a pulled cable, a dead host).
        case blackhole
        /// The client's SYN answered with a TCP reset: connect fails at once with ECONNREFUSED (a stopped server).
        case reject
        /// Every matched packet answered with a TCP reset to its sender: ECONNRESET on the next
        /// send (a crashed server).
        case reset
        /// Every matched packet that is not part of the handshake dropped: connect succeeds, then
        /// silence (a hung server).
        case hang

        public var option: String { "--\(rawValue)" }
    }

    public var action: Action?
    /// Random loss in netfilter (`--loss-nft`), for kernels without netem.
    public var loss: Percent?
    /// `--connections`: only this share of new connections meets the faults; nil: every one.
    public var connections: ConnectionShare?
    /// `--reset-after`, `--hang-after`, `--limit-data`: faults over each connection's life.
    public var life: ConnectionLife?
    /// `--uid`, `--cgroup`, `run --scope command`: only connections whose socket is in this
    /// scope meet the faults (netem's too, which then need nf_tables' steering); nil: anyone's.
    public var scope: SocketScope?
    /// `--connections 30%:reject,10%:hang`: a fault per share (then no action, loss or connections).
    public var mix: ConnectionMix?

    public init(
        action: Action? = nil, loss: Percent? = nil, connections: ConnectionShare? = nil, life: ConnectionLife? = nil,
        scope: SocketScope? = nil
    ) {
        self.action = action; self.loss = loss; self.connections = connections; self.scope = scope
        self.life = (life?.isEmpty ?? true) ? nil : life
    }

    public init(mix: ConnectionMix) { self.mix = mix }

    public var isEmpty: Bool { action == nil && loss == nil && life == nil && mix == nil }

    /// `numgen random mod lossModulus < n`: loss in parts per million.
    public static let lossModulus: UInt32 = 1_000_000
    public var lossThreshold: UInt32? { loss.map { UInt32(($0.fraction * Double(Self.lossModulus)).rounded()) } }

    /// Beside a mix, the connection life faults take every connection, whatever its group (a
    /// mix's groups are its own faults); with a scope too they would take connections outside it.
    public func validateMix() throws {
        guard mix != nil, life != nil, scope != nil else { return }
        throw InputError(
            "a mix (--connections P%:FAULT,...) with --uid, --cgroup or --scope takes no --reset-after, --hang-after, "
                + "--limit-data or --slice: beside a mix those take every connection, in the scope or not; give them "
                + "in a lease of their own, or the share as --connections P%")
    }

    /// The rules no kernel enforces but a person would trip over.
    public func validate(direction: Direction, netem: NetemSpec) throws {
        if let mix {
            try validateMix()
            try life?.validate(action: nil, direction: direction, netem: netem)
            return try mix.validate(direction: direction, netem: netem)
        }
        try life?.validate(action: action, direction: direction, netem: netem)
        if let connections, isEmpty && netem.isEmpty {
            throw InputError(
                """
                --connections \(connections) picks the connections the faults take; give a fault with it: a netem \
                one (--delay, --loss, ...) or one of --blackhole, --reject, --reset, --hang, --loss-nft
                """
            )
        }
        if let loss {
            guard loss.value > 0 else {
                throw InputError("--loss-nft 0% drops nothing; give a share above 0%, e.g. 5%")
            }
            guard (lossThreshold ?? 0) > 0 else {
                throw InputError("--loss-nft \(loss) is below what netfilter can draw (0.0001%)")
            }
            if netem.loss != nil {
                throw InputError(
                    "--loss and --loss-nft both drop at random; give one (--loss-nft is for kernels without netem)")
            }
            if let action, action != .reject {
                throw InputError(
                    """
                    --loss-nft with \(action.option) adds nothing: \(action.option) already drops or resets every \
                    matched packet
                    """
                )
            }
        }
        if action == .reject && direction == .fromServer {
            throw InputError(
                """
                --reject refuses new connections by answering the client's SYN, which travels to the server; \
                --direction from-server carries none. Use --direction to-server or both, or --reset to break \
                connections from the server's side
                """
            )
        }
    }

    /// One line a person reads: "reject, loss-nft 5%".
    public var summary: String {
        var parts: [String] = []
        if let action { parts.append(action.rawValue) }
        if let loss { parts.append("loss-nft \(loss)") }
        if let life { parts.append(life.summary) }
        if let connections { parts.append("connections \(connections)") }
        if let mix { parts.append("connections \(mix)") }
        return parts.joined(separator: ", ")
    }
}
