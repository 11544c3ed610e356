import Foundation
import TestSupport
import Testing

/// Who `netfault run` starts its command as under sudo, with a real lease in a namespace.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct RunIdentityTests {
    /// `netfault run` inside the namespace under `prefix` (env, setpriv), with a journal of its own.
    func run(_ ns: Namespace, _ prefix: [String], _ command: [String]) throws -> Run {
        try ns.exec(
            ["env", "NETFAULT_STATE_DIR=\(ns.dir)/state"] + prefix
                + [netfaultPath, "run", "redis", "--blackhole", "--for", "5s", "--"] + command)
    }

    @Test("sudo from root (SUDO_UID=0): the command runs as root and its status comes back")
    func sudoFromRoot() throws {
        try withNamespace { ns in
            let r = try run(ns, ["SUDO_UID=0", "SUDO_GID=0"], ["id", "-u"])
            #expect(r.status == 0, "exit \(r.status): \(r.stderr)")
            #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(r.stdout)")
        }
    }

    @Test("a failed drop to the invoking user exits 126 naming the call that failed and why")
    func failedDrop() throws {
        try withNamespace { ns in
            // Root without CAP_SETUID and CAP_SETGID: setgroups is refused.
            let r = try run(
                ns, ["SUDO_UID=65534", "SUDO_GID=65534", "setpriv", "--bounding-set", "-setuid,-setgid", "--"],
                ["id", "-u"])
            #expect(r.status == 126, "exit \(r.status): \(r.stderr)")
            #expect(
                r.stderr.contains("cannot run the command as uid 65534: setgroups() failed: Operation not permitted"),
                "\(r.stderr)")
            #expect(r.stdout.isEmpty, "the command ran: \(r.stdout)")
        }
    }
}
