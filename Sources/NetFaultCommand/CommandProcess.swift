import Dispatch
import FoundationEssentials
import Glibc
import CProcess
import NetFaultCore

// Starting the command that `netfault run` and `netfault matrix` put under faults: as the
// invoking user under sudo, with the signals netfault receives passed on.

/// Who the command runs as.
public struct CommandIdentity: Sendable {
    public let uid: uid_t
    public let gid: gid_t
    public let groups: [gid_t]
    public let environment: [String: String]
    public let drop: Bool

    public init(uid: uid_t, gid: gid_t, groups: [gid_t], environment: [String: String], drop: Bool) {
        self.uid = uid; self.gid = gid; self.groups = groups; self.environment = environment; self.drop = drop
    }

    /// Under sudo (root with SUDO_UID), the invoking user, unless `asRoot`; otherwise ourselves.
    public static func forRun(
        asRoot: Bool, uid ownUID: uid_t = getuid(), gid ownGID: gid_t = getgid(),
        environment env: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> CommandIdentity {
        let ourselves = CommandIdentity(uid: ownUID, gid: ownGID, groups: [], environment: env, drop: false)
        guard ownUID == 0, !asRoot, let uidText = env["SUDO_UID"] else { return ourselves }
        guard let uid = uid_t(uidText), let gid = gid_t(env["SUDO_GID"] ?? "") else {
            throw InputError(
                """
                SUDO_UID/SUDO_GID ('\(uidText)', '\(env["SUDO_GID"] ?? "")') are not numeric ids; use --as-root to \
                run the command as root
                """
            )
        }
        // sudo from root: the invoking user is root, so there is nothing to drop (and a drop to
        // uid 0 could never pass the check that root cannot be regained).
        if uid == 0 { return ourselves }
        var environment = env
        var groups: [gid_t] = [gid]
        if let pw = getpwuid(uid) {
            let name = String(cString: pw.pointee.pw_name)
            environment["HOME"] = String(cString: pw.pointee.pw_dir)
            environment["USER"] = name
            environment["LOGNAME"] = name
            var count: Int32 = 64
            var list = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(name, gid, &list, &count) < 0 {
                list = [gid_t](repeating: 0, count: Int(count))
                _ = getgrouplist(name, gid, &list, &count)
            }
            groups = Array(list.prefix(Int(max(count, 0))))
        }
        return CommandIdentity(uid: uid, gid: gid, groups: groups, environment: environment, drop: true)
    }
}

public let forwardedSignals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]

/// Starts the command as `identity`; a command that cannot be found exits 127 in the child, one
/// that cannot become `identity` 126 (with a message).
/// `output`: a descriptor for its stdout and stderr (stdin then reads /dev/null); `newSession`:
/// the command leads its own session; `directory`: where it starts; `cgroupProcs`: an open
/// cgroup.procs the command joins before exec (run --scope command); `onlyStandardFDs`: the
/// command gets descriptors 0-2 only (`netfault run` passes on whatever its caller gave it).
public func startCommand(
    _ argv: [String], as identity: CommandIdentity, output: Int32 = -1, newSession: Bool = false,
    directory: String? = nil, cgroupProcs: Int32 = -1, onlyStandardFDs: Bool = false
) throws -> pid_t {
    for s in forwardedSignals { signal(s, SIG_IGN) }  // waitForwardingSignals' sources receive them
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    var cenv: [UnsafeMutablePointer<CChar>?] = identity.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { cargs.forEach { free($0) }; cenv.forEach { free($0) } }
    let pid = identity.groups.withUnsafeBufferPointer { groups in
        nf_spawn_as(
            identity.drop ? 1 : 0, identity.uid, identity.gid, groups.baseAddress, groups.count, &cargs, &cenv,
            output, newSession ? 1 : 0, directory, cgroupProcs, onlyStandardFDs ? 1 : 0)
    }
    guard pid > 0 else {
        throw ProcessError("cannot start \(argv[0]): \(String(cString: strerror(errno)))")
    }
    return pid
}

/// Passes on the signals netfault receives and returns the command's exit status
/// (128+N when signal N ended it).
public func waitForwardingSignals(_ pid: pid_t) -> Int32 {
    let sources = forwardedSignals.map { s -> DispatchSourceSignal in
        let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
        src.setEventHandler { kill(pid, s) }
        src.resume()
        return src
    }
    defer { sources.forEach { $0.cancel() } }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { return 127 }
    }
    let sig = status & 0x7f
    return sig == 0 ? (status >> 8) & 0xff : 128 + sig
}
