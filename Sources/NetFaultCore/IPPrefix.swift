import FoundationEssentials
import Glibc

extension Target {
    /// The server-side addresses a fault is narrowed to: the host as a full-length block, or
    /// the `--peer` blocks; empty means every address.
    public func addressBlocks(peers: [IPPrefix]) -> [IPPrefix] {
        host.map { [IPPrefix(host: $0)] } ?? peers
    }
}

/// An address block (`--peer 10.0.0.0/8`, `--peer ::1`): a network address and a prefix length.
/// Host bits are cleared, so 10.1.2.3/8 and 10.0.0.0/8 are the same prefix.
public struct IPPrefix: Hashable, Codable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: UInt8
    public var family: IPAddress.Family { address.family }
    public var maxLength: UInt8 { UInt8(address.bytes.count * 8) }

    public init(address: IPAddress, length: UInt8) {
        self.length = min(length, UInt8(address.bytes.count * 8))
        self.address = IPAddress(bytes: Self.masked(address.bytes, self.length))
    }

    /// A single host.
    public init(host: IPAddress) { self.init(address: host, length: UInt8(host.bytes.count * 8)) }

    public static func parse(_ text: String, what: String = "--peer") throws -> IPPrefix {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else {
            throw InputError(
                "\(what) '\(text)' is not an address or CIDR block (e.g. 10.0.0.0/8, 192.168.1.7 or fd00::/64)")
        }
        let maxLength = address.bytes.count * 8
        guard parts.count == 2 else { return IPPrefix(host: address) }
        guard let n = Int(parts[1]), n >= 0, n <= maxLength, parts[1].allSatisfy(\.isNumber) else {
            throw InputError(
                """
                \(what) '\(text)' has a bad prefix length; an \(address.family == .ipv4 ? "IPv4" : "IPv6") prefix is \
                0 to \(maxLength)
                """
            )
        }
        guard n > 0 else {
            throw InputError("\(what) '\(text)' matches every address; leave --peer out instead")
        }
        return IPPrefix(address: address, length: UInt8(n))
    }

    /// The netmask bytes for this length.
    public var mask: [UInt8] {
        (0..<address.bytes.count).map { i in
            let bits = max(0, min(8, Int(length) - i * 8))
            return bits == 0 ? 0 : UInt8(0xff << (8 - bits) & 0xff)
        }
    }

    static func masked(_ bytes: [UInt8], _ length: UInt8) -> [UInt8] {
        bytes.enumerated().map { i, b in
            let bits = max(0, min(8, Int(length) - i * 8))
            return bits == 0 ? 0 : b & UInt8(0xff << (8 - bits) & 0xff)
        }
    }

    /// Whether two prefixes share at least one address.
    public func overlaps(_ other: IPPrefix) -> Bool {
        guard family == other.family else { return false }
        let n = min(length, other.length)
        return Self.masked(address.bytes, n) == Self.masked(other.address.bytes, n)
    }

    public var description: String { length == maxLength ? "\(address)" : "\(address)/\(length)" }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try IPPrefix.parse(text) } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "bad prefix \(text)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
