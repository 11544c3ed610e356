import FoundationEssentials
import Glibc

/// Whose connections a lease's faults take (`--uid`, `--cgroup`, `run --scope command`): those
/// whose local socket, the one that sends the first packet (the SYN), has this owner or sits in
/// this cgroup v2 (or one below it). The choice is made on that packet, leaving this host, and
/// recorded in the lease's `chosen` sets (as --connections' draws are), so the replies, whose
/// socket is the server's, follow it.
public enum SocketScope: Hashable, Codable, Sendable, CustomStringConvertible {
    /// `meta skuid UID`: the socket's owner (the fsuid of the process that made it).
    case uid(UInt32)
    /// `socket cgroupv2 level L ID`.
    case cgroup(CgroupScope)

    /// In nft's language (nft prints the id where it cannot find the cgroup's path, as here).
    public var nftSyntax: String {
        switch self {
        case .uid(let u): "meta skuid \(u)"
        case .cgroup(let c): "socket cgroupv2 level \(c.level) \(c.id)"
        }
    }

    /// What status prints: `uid 65534`, `cgroup /ci/job-1`.
    public var description: String {
        switch self {
        case .uid(let u): "uid \(u)"
        case .cgroup(let c): "cgroup \(c.path)"
        }
    }

    /// Whether one connection could be in both scopes: the same user; a cgroup and one below
    /// it (or itself); a user and any cgroup (its processes may be there).
    public func mayOverlap(_ other: SocketScope) -> Bool {
        switch (self, other) {
        case (.uid(let a), .uid(let b)): return a == b
        case (.cgroup(let a), .cgroup(let b)):
            if a.id == b.id { return true }
            func below(_ x: String, _ y: String) -> Bool { y == "/" || x.hasPrefix(y + "/") }
            return below(a.path, b.path) || below(b.path, a.path)
        default: return true
        }
    }

    /// In a rule's comment (user data, which the kernel bounds): the id, not the path.
    public var brief: String {
        switch self {
        case .uid(let u): "uid \(u)"
        case .cgroup(let c): "cgroup \(c.id)"
        }
    }
}

/// A cgroup v2, resolved before the lease: its path from the cgroup2 root (as /proc/PID/cgroup's
/// `0::` line shows it), its id (the inode of its directory, what the kernel compares) and its
/// depth below the root (the root is level 0).
public struct CgroupScope: Hashable, Codable, Sendable {
    public let path: String
    public let id: UInt64
    public let level: UInt32
    /// Made by `run --scope command` for its command: ended (cgroup.kill) and removed with the
    /// lease, by whoever reverts it (the watchdog when run is killed). nil: someone else's.
    public let madeForRun: Bool?
    public init(path: String, id: UInt64, level: UInt32, madeForRun: Bool? = nil) {
        self.path = path; self.id = id; self.level = level; self.madeForRun = madeForRun
    }

    /// The depth of a path from the cgroup2 root: `/` is 0, `/a/b` is 2.
    public static func level(of path: String) -> UInt32 {
        UInt32(path.split(separator: "/").count)
    }
}
