import ArgumentParser
import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultServe

/// Who may call the API, and where its proxies may listen.
struct AccessOptions: ParsableArguments {
    @Option(
        name: .customLong("allow-user"),
        help: ArgumentHelp(
            "A user (name or uid) who may call the API on loopback, beside root, the daemon's user and SUDO_UID "
                + "(repeatable, or a comma list).", valueName: "user"))
    var allowUser: [String] = []

    @Option(
        name: .customLong("allow-group"),
        help: ArgumentHelp(
            "A group whose members (primary or supplementary) may call the API on loopback (repeatable, or a comma "
                + "list).", valueName: "group"))
    var allowGroup: [String] = []

    @Option(
        name: .customLong("allow-listen"),
        help: ArgumentHelp(
            "An address proxies may listen on beside loopback: an IP address (0.0.0.0 and :: also allow an empty "
                + "host) or 'any' (repeatable, or a comma list).", valueName: "address"))
    var allowListen: [String] = []

    @Flag(name: .customLong("allow-privileged-ports"), help: "Let proxies listen on ports below 1024.")
    var allowPrivilegedPorts = false

    @Option(
        name: .customLong("token-file"),
        help: ArgumentHelp(
            "Require `Authorization: Bearer TOKEN`, TOKEN being this file's content (needed for a non-loopback "
                + "--listen; the environment variable NETFAULT_TOKEN also gives it).", valueName: "path"))
    var tokenFile: String?

    /// Refused: a token on the command line is visible to every user in ps.
    @Option(help: ArgumentHelp(visibility: .private))
    var token: String?

    static func list(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { String($0).trimmed }
    }

    func callerPolicy(environment: [String: String]) throws -> CallerPolicy {
        var users: Set<uid_t> = [], groups: Set<gid_t> = []
        for name in Self.list(allowUser) {
            guard let uid = UserDatabase.uid(name) else {
                throw ValidationError("--allow-user \(name): no such user")
            }
            users.insert(uid)
        }
        for name in Self.list(allowGroup) {
            guard let gid = UserDatabase.gid(name) else {
                throw ValidationError("--allow-group \(name): no such group")
            }
            groups.insert(gid)
        }
        return CallerPolicy.owners(environment: environment, allowUsers: users, allowGroups: groups)
    }

    func listenPolicy() throws -> ListenPolicy {
        do {
            return try ListenPolicy.parse(allowListen: allowListen, privilegedPorts: allowPrivilegedPorts)
        } catch {
            throw ValidationError(error.error)
        }
    }

    /// The token from --token-file or NETFAULT_TOKEN (one trailing newline dropped); nil when
    /// neither is given. An empty one is refused: it would let any request in.
    func readToken(environment: [String: String]) throws -> String? {
        if token != nil {
            throw ValidationError(
                "--token on the command line is visible to every user (ps, /proc); put the token in a file only "
                    + "the daemon's user can read and give --token-file PATH, or set NETFAULT_TOKEN")
        }
        if let tokenFile {
            if environment["NETFAULT_TOKEN"] != nil {
                throw ValidationError("both --token-file and NETFAULT_TOKEN give a token; give one of them")
            }
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw ValidationError("--token-file \(tokenFile): cannot read the file")
            }
            return try nonEmpty(String(decoding: data, as: UTF8.self), "--token-file \(tokenFile)")
        }
        return try environment["NETFAULT_TOKEN"].map { try nonEmpty($0, "NETFAULT_TOKEN") }
    }

    private func nonEmpty(_ text: String, _ source: String) throws -> String {
        var t = text
        if t.hasSuffix("\n") { t.removeLast() }
        if t.hasSuffix("\r") { t.removeLast() }
        guard !t.trimmed.isEmpty else {
            throw ValidationError("\(source) is empty: an empty token would let every request in; give a secret")
        }
        return t
    }
}
