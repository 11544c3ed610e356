import FoundationEssentials
import Glibc
import NIOCore
import NetFaultKernel

/// Who may call the API on a loopback address: root, the daemon's own user, the user who started
/// it with sudo, and the users and groups given with --allow-user and --allow-group. Any local
/// user can connect to a loopback port; the kernel says which one did (SocketOwnerLookup).
public struct CallerPolicy: Sendable {
    public let users: Set<uid_t>
    public let groups: Set<gid_t>
    /// A uid's primary and supplementary groups (nil: no such user).
    let groupsOf: @Sendable (uid_t) -> [gid_t]?

    public init(
        users: Set<uid_t>, groups: Set<gid_t> = [],
        groupsOf: @escaping @Sendable (uid_t) -> [gid_t]? = UserDatabase.groups
    ) {
        self.users = users; self.groups = groups; self.groupsOf = groupsOf
    }

    /// The daemon's owners: root, its effective user, SUDO_UID, and the lists given.
    public static func owners(
        environment: [String: String], euid: uid_t = geteuid(),
        allowUsers: Set<uid_t> = [], allowGroups: Set<gid_t> = []
    ) -> CallerPolicy {
        var users: Set<uid_t> = [0, euid]
        if let sudo = environment["SUDO_UID"].flatMap({ uid_t($0) }) { users.insert(sudo) }
        return CallerPolicy(users: users.union(allowUsers), groups: allowGroups)
    }

    /// nil when `uid` may call; else the 403 to answer, naming the flags that would allow it.
    public func refusal(uid: uid_t) -> ApiError? {
        if users.contains(uid) { return nil }
        if !groups.isEmpty, let member = groupsOf(uid), !groups.isDisjoint(with: member) { return nil }
        return ApiError(
            "uid \(uid) may not use this API: it answers root, the user who started it and the users "
                + "of --allow-user USER and --allow-group GROUP (restart the daemon with one of them)",
            status: 403)
    }
}

/// The password and group databases (NSS), for --allow-user and --allow-group.
public enum UserDatabase {
    /// A user by name or number.
    public static func uid(_ name: String) -> uid_t? {
        if let n = uid_t(name) { return n }
        return getpwnam(name).map { $0.pointee.pw_uid }
    }

    /// A group by name or number.
    public static func gid(_ name: String) -> gid_t? {
        if let n = gid_t(name) { return n }
        return getgrnam(name).map { $0.pointee.gr_gid }
    }

    /// A uid's primary group and supplementary groups; nil when the user is unknown.
    @Sendable public static func groups(of uid: uid_t) -> [gid_t]? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &pw, &buffer, buffer.count, &result) == 0, result != nil, let name = pw.pw_name else {
            return nil
        }
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, pw.pw_gid, &list, &count) < 0 {
            list = [gid_t](repeating: 0, count: Int(count))  // count now says how many there are
            guard getgrouplist(name, pw.pw_gid, &list, &count) >= 0 else { return [pw.pw_gid] }
        }
        return Array(list.prefix(Int(count))) + [pw.pw_gid]
    }
}

/// Which user owns the socket at the other end of a connection to the API.
public protocol SocketOwnerLookup: Sendable {
    /// `ends`: the caller's socket, its own address first. Throws when the kernel cannot say.
    func uid(of ends: TCPEnds) throws -> uid_t
}

/// The kernel's answer: sock_diag in the daemon's own network namespace.
public struct SockDiagOwners: SocketOwnerLookup {
    public init() {}
    public func uid(of ends: TCPEnds) throws -> uid_t { try TCPSocketOwner.uid(of: ends) }
}

/// Decides once per connection whether its caller may use the API.
public enum ApiAccess: Sendable {
    /// A unix socket (its file mode decides) or a token listener (the router checks the token).
    case anyConnection
    /// A loopback listener: the calling socket's owner must be allowed. A lookup that fails
    /// refuses (fail closed).
    case loopbackOwners(CallerPolicy, SocketOwnerLookup)

    /// nil when the connection may call; else the answer.
    public func refusal(local: SocketAddress?, remote: SocketAddress?) -> ApiError? {
        guard case .loopbackOwners(let policy, let lookup) = self else { return nil }
        guard let local, let remote, let ends = Self.callerEnds(local: local, remote: remote) else {
            return ApiError("the caller's address is not a loopback TCP address; refused", status: 403)
        }
        let uid: uid_t
        do {
            uid = try lookup.uid(of: ends)
        } catch {
            return ApiError("cannot tell which user called (\(error)); refused", status: 403)
        }
        return policy.refusal(uid: uid)
    }

    /// The caller's socket as the kernel knows it: its address and port, then the daemon's.
    static func callerEnds(local: SocketAddress, remote: SocketAddress) -> TCPEnds? {
        guard let (l, lp) = bytes(local), let (r, rp) = bytes(remote), IPRange.isLoopback(r) else { return nil }
        return TCPEnds(local: r, localPort: rp, remote: l, remotePort: lp)
    }

    static func bytes(_ a: SocketAddress) -> ([UInt8], UInt16)? {
        switch a {
        case .v4(let v):
            return (withUnsafeBytes(of: v.address.sin_addr) { Array($0) }, UInt16(bigEndian: v.address.sin_port))
        case .v6(let v):
            return (withUnsafeBytes(of: v.address.sin6_addr) { Array($0) }, UInt16(bigEndian: v.address.sin6_port))
        default:
            return nil
        }
    }
}

/// Address classes the API and the proxies' listen policy ask about.
public enum IPRange {
    /// An address's bytes (4 or 16) from its text; nil when it is not an IP address.
    public static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    /// 127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104.
    public static func isLoopback(_ a: [UInt8]) -> Bool {
        let a = TCPSocketOwner.unmapped(a)
        if a.count == 4 { return a[0] == 127 }
        return a.count == 16 && a[0..<15].allSatisfy { $0 == 0 } && a[15] == 1
    }

    /// A host the daemon listens on: "localhost" or a loopback address.
    public static func isLoopback(host: String) -> Bool {
        host == "localhost" || bytes(host).map(isLoopback) == true
    }
}
