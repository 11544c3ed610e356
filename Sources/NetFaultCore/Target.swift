import FoundationEssentials
import Glibc

/// The well-known services a target may name instead of a port.
public enum Service: String, CaseIterable, Sendable {
    case mysql, redis, postgres, memcached
    public var port: UInt16 {
        switch self {
        case .mysql: 3306
        case .redis: 6379
        case .postgres: 5432
        case .memcached: 11211
        }
    }
}

/// An IP address, kept as its network-order bytes (4 for IPv4, 16 for IPv6).
public struct IPAddress: Hashable, Codable, Sendable, CustomStringConvertible {
    public enum Family: String, Codable, Sendable, CaseIterable { case ipv4, ipv6 }
    public let bytes: [UInt8]
    public var family: Family { bytes.count == 4 ? .ipv4 : .ipv6 }

    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// 127.0.0.0/8 or ::1: the kernel carries these only over a loopback device.
    public var isLoopback: Bool {
        family == .ipv4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    public var description: String {
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var raw = bytes
        let af = family == .ipv4 ? AF_INET : AF_INET6
        _ = inet_ntop(af, &raw, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let a = IPAddress(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "bad address \(text)"))
        }
        self = a
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// What a fault applies to: one or more TCP ports, optionally narrowed to one server address.
public struct Target: Hashable, Codable, Sendable, CustomStringConvertible {
    public let ports: [UInt16]
    public let host: IPAddress?
    /// The words the user typed, e.g. "mysql,6380", for display.
    public let name: String

    public init(ports: [UInt16], host: IPAddress? = nil, name: String? = nil) {
        self.ports = ports
        self.host = host
        self.name = name ?? ports.map(String.init).joined(separator: ",")
    }
    enum CodingKeys: String, CodingKey { case ports, host, name }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ports = try c.decodePorts(forKey: .ports)
        host = try c.decodeIfPresent(IPAddress.self, forKey: .host)
        name = try c.decode(String.self, forKey: .name)
    }
    /// The ports as a PortList (see there).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(PortList.text(ports), forKey: .ports)
        try c.encodeIfPresent(host, forKey: .host)
        try c.encode(name, forKey: .name)
    }

    /// Parses `mysql`, `redis`, `6380`, or a comma list of those.
    public static func parse(_ text: String, host: String? = nil) throws -> Target {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmed.lowercased()
        }
        let names = Service.allCases.map(\.rawValue).joined(separator: ", ")
        var ports: [UInt16] = []
        // A set beside the ordered list: a list of thousands of ports is checked in linear time.
        var seen = Set<UInt16>()
        for part in parts {
            if part.isEmpty {
                throw InputError(
                    "target '\(text)' has an empty entry; give service names (\(names)) or ports separated by commas")
            }
            let port: UInt16
            if let service = Service(rawValue: part) {
                port = service.port
            } else if part.allSatisfy({ $0.isASCII && $0.isNumber }) {
                guard let n = Int(part), n >= 1, n <= 65535 else {
                    throw InputError("port \(part) is out of range; a TCP port is 1 to 65535")
                }
                port = UInt16(n)
            } else {
                throw InputError("unknown target '\(part)'; use one of \(names), or a port number 1-65535")
            }
            if seen.insert(port).inserted { ports.append(port) }
        }
        var address: IPAddress?
        if let host {
            guard let a = IPAddress(host) else {
                throw InputError("--host '\(host)' is not an IPv4 or IPv6 address (e.g. 10.0.0.5 or ::1)")
            }
            if a.bytes.allSatisfy({ $0 == 0 }) {
                throw InputError(
                    """
                    --host \(host) is the unspecified address: no packet goes to or comes from it; give the \
                    server's address
                    """)
            }
            if a.family == .ipv6 && a.bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
                let v4 = a.bytes.suffix(4).map(String.init).joined(separator: ".")
                throw InputError(
                    """
                    --host \(host) is an IPv4 address written as IPv6, and its packets carry it as IPv4: give \
                    --host \(v4)
                    """)
            }
            address = a
        }
        return Target(ports: ports, host: address, name: parts.joined(separator: ","))
    }

    public var description: String {
        let p = ports.map(String.init).joined(separator: ",")
        let hostPart = host.map { " on \($0)" } ?? ""
        return name == p ? "port \(p)\(hostPart)" : "\(name) (port \(p))\(hostPart)"
    }
}

extension Target {
    /// Refuses an --iface that the host's packets never pass, so that the lease would install and
    /// match nothing: a loopback device for a host the kernel does not route through loopback,
    /// or another device for a loopback address.
    /// - routed: the device the kernel routes the host through and whether it is a loopback
    ///   device (a loopback address, or one of this host's own); nil when there is no route.
    public func checkIface(_ device: String, isLoopback: Bool, routed: (name: String, isLoopback: Bool)?) throws {
        guard let host else { return }
        if !isLoopback && host.isLoopback {
            throw InputError(
                """
                --host \(host) is a loopback address, whose packets only ever pass the loopback device, never \
                \(device): leave out --iface (or give the loopback device)
                """
            )
        }
        guard isLoopback, !host.isLoopback, routed?.isLoopback != true else { return }
        let why = "so its packets never pass \(device) and the faults would match nothing"
        guard let routed else {
            throw InputError(
                """
                --iface \(device) is the loopback device, but this host has no route to --host \(host), \(why): give \
                --iface the device the server is reached through
                """
            )
        }
        throw InputError(
            """
            --iface \(device) is the loopback device, but --host \(host) is reached through \(routed.name), \(why): \
            leave out --iface (netfault then uses the device the kernel routes --host through), or give --iface \
            \(routed.name)
            """
        )
    }
}

/// Which packets of a target's traffic the fault touches.
public enum Direction: String, Codable, Sendable, CaseIterable {
    /// Packets whose destination port is the target: requests. A round trip grows by the delay once.
    case toServer = "to-server"
    /// Packets whose source port is the target: responses.
    case fromServer = "from-server"
    case both

    public var matchesToServer: Bool { self != .fromServer }
    public var matchesFromServer: Bool { self != .toServer }
}

/// Where the server is, seen from the network namespace the faults go into. A remote server's
/// requests leave this host and its responses arrive; a local server's requests arrive (from
/// other hosts, or over loopback) and its responses leave. A sidecar container that shares a
/// service's namespace faults a local server.
public enum ServerLocation: String, Codable, Sendable, CaseIterable {
    case local, remote
}
