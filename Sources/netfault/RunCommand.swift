import ArgumentParser
import CProcess
import Dispatch
import Foundation
import NetFaultCore
import NetFaultWatchdog

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command with faults in force, and revert them when it ends.",
        discussion: """
        Applies the faults under a lease, runs COMMAND, reverts when it exits, and exits with its \
        status (128+N when a signal N ended it). SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and \
        SIGUSR2 sent to netfault are passed on to the command. If netfault itself is killed, even \
        with SIGKILL, its watchdog notices within a second and reverts.

        Under sudo the command runs as the invoking user (SUDO_UID, SUDO_GID, that user's \
        supplementary groups and HOME), never as root, unless --as-root is given.

        Examples:
          sudo netfault run redis --delay 100ms -- pytest tests/test_cache.py
          netfault run mysql --loss 10% --for 10m -- ./integration-tests.sh
        """)

    @OptionGroup var where_: TargetOptions
    @OptionGroup var faults: NetemOptions

    @Option(name: .customLong("for"), help: ArgumentHelp("The longest the faults stay, even if the command runs on (default 24h, the most).", valueName: "duration"))
    var duration: String = "24h"

    @Flag(name: .customLong("as-root"), help: "Under sudo, run the command as root instead of the invoking user.")
    var asRoot = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        if command.isEmpty {
            throw ValidationError("give the command to run after --, e.g. netfault run redis --delay 100ms -- pytest")
        }
    }

    func run() throws {
        var status: Int32 = 0
        try reporting {
            let request = try faultRequest(where_, faults, duration)
            let identity = try CommandIdentity.forRun(asRoot: asRoot)
            try requireNetAdmin()
            try requireFeatures(["netem", "prio", "u32"])
            let manager = LeaseManager(journal: try Journal())
            let (lease, _) = try manager.apply(request, executable: selfExecutable(), controller: ProcessIdentity.current())
            note("lease \(lease.id) in force: \(lease.netem.summary) on \(lease.target), \(lease.direction.rawValue) via \(lease.device)")
            do {
                status = try runForwardingSignals(command, as: identity)
            } catch {
                _ = try? manager.revert(id: lease.id)
                throw error
            }
            try manager.revert(id: lease.id)
            note("lease \(lease.id) reverted; the command exited with \(status)")
        }
        throw ExitCode(status)
    }
}

private func note(_ s: String) { FileHandle.standardError.write(Data("netfault: \(s)\n".utf8)) }

/// Who the command runs as.
struct CommandIdentity {
    let uid: uid_t
    let gid: gid_t
    let groups: [gid_t]
    let environment: [String: String]
    let drop: Bool

    /// Under sudo (root with SUDO_UID), the invoking user, unless `asRoot`; otherwise ourselves.
    static func forRun(asRoot: Bool) throws -> CommandIdentity {
        let env = ProcessInfo.processInfo.environment
        guard getuid() == 0, !asRoot, let uidText = env["SUDO_UID"] else {
            return CommandIdentity(uid: getuid(), gid: getgid(), groups: [], environment: env, drop: false)
        }
        guard let uid = uid_t(uidText), let gid = gid_t(env["SUDO_GID"] ?? "") else {
            throw InputError("SUDO_UID/SUDO_GID ('\(uidText)', '\(env["SUDO_GID"] ?? "")') are not numeric ids; use --as-root to run the command as root")
        }
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

/// Starts the command, passes on the signals netfault receives, and returns its exit status
/// (128+N when signal N ended it; 127 when it could not be started).
func runForwardingSignals(_ argv: [String], as identity: CommandIdentity) throws -> Int32 {
    let forwarded = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]
    for s in forwarded { signal(s, SIG_IGN) }  // the dispatch sources below receive them
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    var cenv: [UnsafeMutablePointer<CChar>?] = identity.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { cargs.forEach { free($0) }; cenv.forEach { free($0) } }
    let pid = identity.groups.withUnsafeBufferPointer { groups in
        nf_spawn_as(identity.drop ? 1 : 0, identity.uid, identity.gid, groups.baseAddress, groups.count, &cargs, &cenv)
    }
    guard pid > 0 else {
        throw InputError("cannot start \(argv[0]): \(String(cString: strerror(errno)))")
    }
    let sources = forwarded.map { s -> DispatchSourceSignal in
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
