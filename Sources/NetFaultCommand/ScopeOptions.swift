import ArgumentParser
import NetFaultCore
import NetFaultKernel

/// Whose connections the faults take: `--uid`, `--cgroup` (apply and run).
public struct ScopeOptions: ParsableArguments {
    public init() {}
    @Option(
        help: ArgumentHelp(
            """
            Only connections opened by sockets this user owns (a number or a name), e.g. a test runner's user. The \
            choice is made at a connection's first packet leaving this host and holds both ways for its life; \
            connections open before the lease, and ones from other hosts, are left alone.
            """,
            valueName: "user"))
    public var uid: String?

    @Option(
        help: ArgumentHelp(
            """
            Only connections opened by processes in this cgroup v2 or below it: a path as /proc/PID/cgroup's 0:: \
            line shows it (e.g. /system.slice/ci.service) or its directory under the cgroup2 mount. Chosen like \
            --uid's.
            """,
            valueName: "path"))
    public var cgroup: String?

    /// The scope, resolved against this system (a user name, a cgroup's id); nil: none given.
    public func resolved() throws -> SocketScope? {
        if uid != nil && cgroup != nil {
            throw InputError("give --uid or --cgroup, not both; a lease takes one scope")
        }
        if let uid { return .uid(try UserID.resolve(uid)) }
        if let cgroup { return .cgroup(try Cgroup2.resolve(cgroup, mount: try Cgroup2.mountPoint())) }
        return nil
    }
}
