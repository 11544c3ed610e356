import CNetlink
import FoundationEssentials
import Glibc
import NetFaultCore

// NetworkNamespace itself is a value of NetFaultCore (a lease request names one); finding,
// checking and entering one takes syscalls, here.
extension NetworkNamespace {
    /// The namespace the user named, checked to exist; throws a message for the user otherwise.
    public static func resolve(name: String?, pid: Int32?) throws -> NetworkNamespace? {
        switch (name, pid) {
        case (nil, nil): return nil
        case (.some, .some): throw NamespaceError("give --netns or --netns-pid, not both")
        case (let name?, nil):
            guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
                throw NamespaceError("--netns '\(name)' is not a namespace name (as `ip netns list` shows them)")
            }
            return try NetworkNamespace(
                path: "/run/netns/\(name)", label: name,
                missing: "no network namespace '\(name)' in /run/netns (see `ip netns list`)")
        case (nil, let pid?):
            guard pid > 0 else { throw NamespaceError("--netns-pid \(pid) is not a process id") }
            return try NetworkNamespace(
                path: "/proc/\(pid)/ns/net", label: "pid \(pid)",
                missing: "no process \(pid) (its network namespace is needed for --netns-pid)")
        }
    }

    init(path: String, label: String, missing: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw NamespaceError(missing) }
        self.init(path: path, inode: UInt64(st.st_ino), label: label)
        guard Capabilities.has(.sysAdmin) else { throw Self.cannotEnter("this process lacks CAP_SYS_ADMIN") }
    }

    /// Whether the path no longer names this namespace: `ip netns del`, the process of
    /// --netns-pid gone, or another namespace made under the name. A socket held in it keeps it
    /// alive, but no command can reach it any more. Any other stat error is not taken as gone.
    public var isGone: Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return errno == ENOENT || errno == ENOTDIR }
        return UInt64(st.st_ino) != inode
    }

    /// Entering a namespace takes setns(2): CAP_SYS_ADMIN, and a seccomp profile that allows it
    /// (Docker's default refuses it). A container is put into the namespace instead.
    static func cannotEnter(_ why: String) -> PermissionError {
        PermissionError(
            """
            --netns and --netns-pid enter another network namespace with setns(2), which needs \
            CAP_SYS_ADMIN and a seccomp profile that allows setns; \(why). In a container, start \
            netfault inside the service's namespace instead and leave out --netns: \
            docker run --network container:NAME --cap-add NET_ADMIN IMAGE netfault ...
            """, reason: why)
    }

    /// Runs `body` on a short-lived thread that has joined the namespace. Sockets created there
    /// stay in that namespace for their whole life, whichever thread uses them later.
    public func inside<T>(_ body: @escaping () throws -> T) throws -> T {
        let path = self.path, inode = self.inode
        return try onThread {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw NamespaceGone(path: path) }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, UInt64(st.st_ino) == inode else { throw NamespaceGone(path: path) }
            guard nf_setns_net(fd) == 0 else {
                let e = errno
                if e == EPERM && !Capabilities.has(.sysAdmin) {
                    throw Self.cannotEnter("this process lacks CAP_SYS_ADMIN")
                } else if e == EPERM && Capabilities.seccompFiltered {
                    throw Self.cannotEnter("a seccomp filter refused it here")
                }
                throw KernelError(operation: "entering network namespace \(path)", errno: e)
            }
            return try body()
        }
    }
}

/// Runs `body` inside `namespace`, or right here when it is nil (this process's own).
public func inNamespace<T>(_ namespace: NetworkNamespace?, _ body: @escaping () throws -> T) throws -> T {
    guard let namespace else { return try body() }
    return try namespace.inside(body)
}

/// The user named a namespace that does not exist, or named it badly.
public struct NamespaceError: NetfaultError, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: Int32 { ExitStatus.usage }
}

/// A lease's namespace no longer exists (or its path now names another one): its objects went
/// with it, so there is nothing left to revert there.
public struct NamespaceGone: Error, Sendable {
    public let path: String
}

extension NetlinkSocket {
    /// A socket in `namespace`, or in this process's own when nil.
    public static func open(
        in namespace: NetworkNamespace?, netlinkProtocol: Int32 = NETLINK_ROUTE
    ) throws -> NetlinkSocket {
        try inNamespace(namespace) { try NetlinkSocket(netlinkProtocol: netlinkProtocol) }
    }
}
