/// What a device does to the packets netem sees. With generic segmentation (gso), TCP
/// segmentation (tso) or generic receive (gro) offload on, the kernel hands qdiscs super-packets
/// of up to 64 KB that are cut into wire packets only later (or were merged from them on
/// arrival), and a device whose MTU is that large (lo: 65536) sends packets that big anyway.
/// netem decides loss, corruption, duplication and reordering once per packet it sees, so there
/// one decision takes many wire packets at once.
public struct SegmentationOffloads: Sendable, Equatable {
    public let device: String
    /// nil: unknown (the driver does not say).
    public let gso: Bool?, tso: Bool?, gro: Bool?
    public let mtu: UInt32?

    public init(device: String, gso: Bool?, tso: Bool?, gro: Bool?, mtu: UInt32?) {
        self.device = device; self.gso = gso; self.tso = tso; self.gro = gro; self.mtu = mtu
    }

    /// The largest MTU a wire carries (jumbo frames); beyond it a packet is no wire packet.
    static let largestWireMTU: UInt32 = 9216

    var states: [(name: String, on: Bool?)] { [("gso", gso), ("tso", tso), ("gro", gro)] }

    /// The offloads that are on, by ethtool's short names.
    public var enabled: [String] { states.filter { $0.on == true }.map(\.name) }

    /// "gso on, tso off, gro unknown".
    public var stateText: String {
        states.map { "\($0.name) \($0.on.map { $0 ? "on" : "off" } ?? "unknown")" }.joined(separator: ", ")
    }

    /// Why netem sees packets larger than wire packets here, and what turns that off; nil when
    /// it sees wire packets (as far as the device says).
    public var caveat: String? {
        var why: [String] = []
        if !enabled.isEmpty {
            why.append(
                """
                with \(enabled.listed) on, netem sees super-packets of up to 64 KB (many wire packets each); to see \
                wire packets: ethtool -K \(device) \(enabled.map { "\($0) off" }.joined(separator: " "))
                """)
        }
        if let mtu, mtu > Self.largestWireMTU {
            why.append(
                """
                \(device)'s MTU of \(mtu) lets one packet carry \(mtu) bytes (for wire-sized packets: ip link set \
                \(device) mtu 1500)
                """)
        }
        return why.isEmpty ? nil : why.joined(separator: "; ")
    }

    /// The warning for a lease with these faults on this device, or nil when none applies.
    public func warning(for netem: NetemSpec) -> String? {
        let faults = netem.perPacketFaults
        guard !faults.isEmpty, let caveat else { return nil }
        return "on \(device), \(faults.listed) \(faults.count == 1 ? "is" : "are") decided once per packet netem sees, "
            + "not per wire packet: \(caveat)"
    }

    /// What doctor says about the device.
    public var summary: String {
        stateText + (mtu.map { ", mtu \($0)" } ?? "") + ": "
            + (caveat.map { "netem decides --loss, --corrupt, --duplicate and --reorder per packet it sees; \($0)" }
                ?? "netem sees wire packets")
    }
}
