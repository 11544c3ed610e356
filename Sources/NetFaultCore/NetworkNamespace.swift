/// A network namespace other than this process's own: a named one (`ip netns add`, under
/// /run/netns) or a process's (a container's). Identified by its inode as well as its path,
/// so a reused pid cannot redirect a revert into some other namespace. A plain value here;
/// NetFaultKernel finds, checks and enters one.
public struct NetworkNamespace: Codable, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let inode: UInt64
    /// How the user named it: "NAME" or "pid PID".
    public let label: String

    public var description: String { label }

    public init(path: String, inode: UInt64, label: String) {
        self.path = path; self.inode = inode; self.label = label
    }
}
