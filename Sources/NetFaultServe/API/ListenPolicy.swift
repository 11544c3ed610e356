import NetFaultCore

/// Where a proxy may listen. The daemon opens its listeners with its own privilege, for whoever
/// may call the API: by default on loopback and unprivileged ports only, so that no caller can
/// expose a loopback-only server to other hosts or take a system port (443, 22).
public struct ListenPolicy: Sendable, Equatable {
    /// Addresses allowed beside loopback, as bytes; "0.0.0.0" and "::" also allow an empty host.
    public var addresses: Set<[UInt8]> = []
    /// `--allow-listen any`: every address and host name.
    public var anyAddress = false
    /// `--allow-privileged-ports`: ports 1-1023.
    public var privilegedPorts = false

    public init(addresses: Set<[UInt8]> = [], anyAddress: Bool = false, privilegedPorts: Bool = false) {
        self.addresses = addresses; self.anyAddress = anyAddress; self.privilegedPorts = privilegedPorts
    }

    /// Loopback and ports from 1024: what serve allows unless told otherwise.
    public static let loopback = ListenPolicy()
    /// Everything (a proxy the user's own command makes, as netfault matrix does).
    public static let unrestricted = ListenPolicy(anyAddress: true, privilegedPorts: true)

    /// --allow-listen values: `any`, or IP addresses (comma lists taken apart).
    public static func parse(allowListen: [String], privilegedPorts: Bool) throws(ApiError) -> ListenPolicy {
        var policy = ListenPolicy(privilegedPorts: privilegedPorts)
        for item in allowListen.flatMap({ $0.split(separator: ",") }).map({ String($0).trimmed }) {
            if item == "any" {
                policy.anyAddress = true
            } else if let a = IPRange.bytes(item.hasPrefix("[") ? String(item.dropFirst().dropLast()) : item) {
                policy.addresses.insert(a)
            } else {
                throw ApiError("--allow-listen '\(item)' is not an IP address or 'any' (e.g. 0.0.0.0, ::, 10.0.0.5)",
                    status: 400)
            }
        }
        return policy
    }

    static let everyV4: [UInt8] = [0, 0, 0, 0]
    static let everyV6 = [UInt8](repeating: 0, count: 16)

    /// Refuses a listen address this policy does not allow, with the flag that would.
    public func check(_ listen: HostPort) throws(ServeFailure) {
        if !anyAddress && !IPRange.isLoopback(host: listen.host) {
            let allowed: Bool
            if listen.host.isEmpty {
                allowed = addresses.contains(Self.everyV4) || addresses.contains(Self.everyV6)
            } else {
                allowed = IPRange.bytes(listen.host).map { addresses.contains($0) } ?? false
            }
            guard allowed else {
                let host = listen.host.isEmpty ? "0.0.0.0" : listen.host
                let flag = IPRange.bytes(host) == nil ? "any" : host
                throw .listenNotAllowed(
                    "listen \(listen): proxies listen on loopback only, so that no caller exposes a server to "
                        + "other hosts; start the daemon with --allow-listen \(flag) to allow it "
                        + "(Testcontainers' 0.0.0.0:PORT needs --allow-listen 0.0.0.0)")
            }
        }
        if !privilegedPorts && listen.port > 0 && listen.port < 1024 {
            throw .listenNotAllowed(
                "listen \(listen): port \(listen.port) is privileged (below 1024); start the daemon with "
                    + "--allow-privileged-ports to allow it")
        }
    }
}
