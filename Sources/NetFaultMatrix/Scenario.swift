import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultServe
import Yams

/// A fault matrix scenario, read from YAML (or JSON, which YAML includes). Every mistake is
/// reported with the file, line and column it is at, before anything runs.
public struct Scenario: Sendable {
    public enum Backend: String, Sendable, CaseIterable { case kernel, proxy }

    public struct Service: Sendable {
        public let name: String
        /// Where the server is: what the kernel backend faults, and the proxy forwards to.
        public let upstream: HostPort
        /// Where the proxy backend's proxy listens.
        public let listen: HostPort
        /// The environment variable that tells the command where the service is (HOST:PORT;
        /// NAME_HOST and NAME_PORT as well).
        public let env: String?
        public let line: Int
    }

    public struct Fault: Sendable {
        public let name: String
        /// netfault's own option words, e.g. ["--delay", "10ms"].
        public let words: [String]
        public let after: String?
        public let every: String?
        public let on: String?
        /// The services it applies to; all when the file does not say.
        public let services: [String]
        public let recover: [String]?
        public let timeout: Duration?
        public let line: Int

        public var schedule: Schedule {
            (try? Schedule.parse(after: after, every: every, on: on)) ?? .always
        }

        /// "after 1s, on 1s every 3s"; nil when the fault is in force for the whole run.
        public var scheduleText: String? {
            var parts: [String] = []
            if let after { parts.append("after \(after)") }
            if let every, let on { parts.append("on \(on) every \(every)") }
            return parts.isEmpty ? nil : parts.joined(separator: ", ")
        }
    }

    /// The file as given, for messages and rerun lines.
    public let path: String
    public let command: [String]
    public let commandText: String
    public let recover: [String]?
    /// Where the command runs (absolute).
    public let workdir: String
    public let timeout: Duration
    public let backends: [Backend]
    public let env: [String: String]
    public let services: [Service]
    public let faults: [Fault]

    public func service(_ name: String) -> Service? { services.first { $0.name == name } }
}

/// A mistake in the scenario file, with where it is.
public struct ScenarioError: NetfaultError, Sendable {
    public let path: String
    public let line: Int?
    public let column: Int?
    public let message: String
    public var exitStatus: Int32 { 64 }
    public var description: String {
        let at = [line.map(String.init), column.map(String.init)].compactMap { $0 }.joined(separator: ":")
        return "\(path)\(at.isEmpty ? "" : ":" + at): \(message)"
    }
}

extension Scenario {
    /// The largest scenario file read: a scenario is tens of lines, and YAML parsing time
    /// grows with the file (a 10 MB file took 20s), so anything larger is refused unread.
    public static let maximumFileSize = 1 << 20
    /// The most fault cells (fault and service pairs) per backend: each runs the command twice,
    /// and checking each parses its words, so a larger file is refused as it is read.
    public static let maximumFaultCells = 1000

    public static func load(path: String, fileSystemPath: String? = nil) throws -> Scenario {
        let file = fileSystemPath ?? path
        var st = stat()
        if stat(file, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > maximumFileSize {
            throw ScenarioError(
                path: path, line: nil, column: nil,
                message: "the file is \(st.st_size) bytes; a scenario may be at most \(maximumFileSize) bytes (1 MiB)")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ScenarioError(
                path: path, line: nil, column: nil,
                message: "cannot read the scenario file (\(String(cString: strerror(errno))))")
        }
        // Checked again on what was read: a pipe or a file that grew has no size to stat.
        guard data.count <= maximumFileSize else {
            throw ScenarioError(
                path: path, line: nil, column: nil,
                message: "the file is over \(maximumFileSize) bytes; a scenario may be at most 1 MiB")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ScenarioError(path: path, line: nil, column: nil, message: "not UTF-8 text")
        }
        let absolute = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        let directory = absolute.split(separator: "/", omittingEmptySubsequences: false).dropLast()
            .joined(separator: "/")
        return try parse(text, path: path, directory: directory.isEmpty ? "/" : directory)
    }

    /// `directory`: what a relative workdir is relative to (the file's own directory).
    public static func parse(_ text: String, path: String, directory: String) throws -> Scenario {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ScenarioError(path: path, line: 1, column: 1, message: "the file is empty")
            }
            root = node
        } catch let e as YamlError {
            throw ScenarioError.from(e, path: path)
        }
        return try Reader(path: path).scenario(root, directory: directory)
    }
}

extension ScenarioError {
    static func from(_ e: YamlError, path: String) -> ScenarioError {
        switch e {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return ScenarioError(
                path: path, line: mark.line, column: mark.column, message: "not valid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, _):
            return ScenarioError(
                path: path, line: nil, column: nil,
                message: "a key appears twice: \(duplicates.joined(separator: ", "))")
        default:
            return ScenarioError(path: path, line: nil, column: nil, message: "not valid YAML: \(e)")
        }
    }
}

/// Walks the YAML nodes, so that each message can point at the node it is about.
struct Reader {
    let path: String

    func error(_ node: Node?, _ message: String) -> ScenarioError {
        ScenarioError(path: path, line: node?.mark?.line, column: node?.mark?.column, message: message)
    }

    func mapping(
        _ node: Node, _ what: String, keys allowed: [String]
    ) throws -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let m) = node else { throw error(node, "\(what) must be a mapping (key: value lines)") }
        var out: [(String, Node, Node)] = []
        var seen: Set<String> = []  // not a search of `out`: that was quadratic in the keys
        for (k, v) in m {
            guard let key = k.scalar?.string else { throw error(k, "\(what): keys must be plain words") }
            if !allowed.isEmpty && !allowed.contains(key) {
                throw error(k, "unknown key '\(key)' in \(what); expected one of: \(allowed.joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else { throw error(k, "'\(key)' appears twice in \(what)") }
            out.append((key, k, v))
        }
        return out
    }

    func string(_ node: Node, _ what: String) throws -> String {
        guard let s = node.scalar?.string, !s.isEmpty else { throw error(node, "\(what) must be a non-empty string") }
        return s
    }

    func name(_ node: Node, _ what: String) throws -> String {
        let s = try string(node, what)
        guard s.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), s.first != "." else {
            throw error(node, "\(what) '\(s)' may hold only letters, digits, '-', '_' and '.' (it names report cells)")
        }
        return s
    }

    func duration(_ node: Node, _ what: String) throws -> Duration {
        let s = try string(node, what)
        do { return try Duration.parse(s, what: what) } catch { throw self.error(node, "\(error)") }
    }

    /// One name or a list of names, each with its node (for messages that point at it).
    func nameList(_ node: Node, _ what: String, each: String, else message: String) throws -> [(String, Node)] {
        switch node {
        case .scalar: return [(try string(node, what), node)]
        case .sequence(let seq): return try seq.map { (try string($0, each), $0) }
        default: throw error(node, message)
        }
    }

    /// A command: a string (run by /bin/sh -c) or a list of words (run as they are).
    func command(_ node: Node, _ what: String) throws -> (argv: [String], text: String) {
        switch node {
        case .scalar:
            let s = try string(node, what)
            return (["/bin/sh", "-c", s], s)
        case .sequence(let seq):
            let words = try seq.map { try string($0, "each word of \(what)") }
            guard !words.isEmpty else { throw error(node, "\(what) is an empty list") }
            return (words, words.joined(separator: " "))
        default:
            throw error(node, "\(what) must be a string (run by /bin/sh -c) or a list of words")
        }
    }

    func words(_ node: Node, _ what: String) throws -> [String] {
        switch node {
        case .scalar: return try string(node, what).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        case .sequence(let seq): return try seq.map { try string($0, "each word of \(what)") }
        default: throw error(node, "\(what) must be netfault's option words, e.g. --delay 10ms")
        }
    }

    func scenario(_ root: Node, directory: String) throws -> Scenario {
        let top = try mapping(
            root, "the scenario",
            keys: ["command", "recover", "workdir", "timeout", "backends", "env", "services", "faults"])
        func value(_ key: String) -> Node? { top.first { $0.key == key }?.value }
        guard let commandNode = value("command") else {
            throw error(root, "no 'command': give the command to run under each fault, e.g. command: pytest -q")
        }
        let command = try self.command(commandNode, "command")
        let recover = try value("recover").map { try self.command($0, "recover").argv }
        var workdir = directory
        if let w = value("workdir") {
            let s = try string(w, "workdir")
            workdir = s.hasPrefix("/") ? s : directory + "/" + s
        }
        let timeout = try value("timeout").map { try duration($0, "timeout") } ?? Duration(nanoseconds: 600_000_000_000)
        var backends = Scenario.Backend.allCases
        if let b = value("backends") {
            let names = try nameList(
                b, "backends", each: "each backend", else: "backends must be a list of kernel, proxy")
            backends = try names.map { n, node in
                if n == "both" { return nil }
                guard let k = Scenario.Backend(rawValue: n) else {
                    throw error(node, "unknown backend '\(n)'; expected kernel, proxy or both")
                }
                return k
            }.compactMap { $0 }
            if names.contains(where: { $0.0 == "both" }) { backends = Scenario.Backend.allCases }
            guard !backends.isEmpty else { throw error(b, "backends is empty; give kernel, proxy or both") }
        }
        var env: [String: String] = [:]
        if let e = value("env") {
            for (k, _, v) in try mapping(e, "env", keys: []) {
                guard let s = v.scalar?.string else { throw error(v, "env \(k) must be a string") }
                env[k] = s
            }
        }
        guard let servicesNode = value("services") else {
            throw error(
                root,
                """
                no 'services': name each server, e.g. services: { redis: { upstream: 127.0.0.1:6379, \
                listen: 127.0.0.1:16379 } }
                """)
        }
        let services = try self.services(servicesNode)
        guard let faultsNode = value("faults") else {
            throw error(
                root,
                """
                no 'faults': name each fault in netfault's option words, e.g. faults: { delay: { fault: \
                --delay 10ms } }
                """)
        }
        let faults = try self.faults(faultsNode, services: services)
        return Scenario(
            path: path, command: command.argv, commandText: command.text, recover: recover, workdir: workdir,
            timeout: timeout, backends: backends, env: env, services: services, faults: faults)
    }

    func services(_ node: Node) throws -> [Scenario.Service] {
        var out: [Scenario.Service] = []
        for (name, keyNode, v) in try mapping(node, "services", keys: []) {
            _ = try self.name(keyNode, "the service name")
            if name == "baseline" {
                throw error(keyNode, "'baseline' names the runs without a fault; call the service otherwise")
            }
            let fields = try mapping(v, "service \(name)", keys: ["upstream", "listen", "env"])
            func field(_ k: String) -> Node? { fields.first { $0.key == k }?.value }
            guard let u = field("upstream") else {
                throw error(v, "service \(name) has no upstream (HOST:PORT of the server)")
            }
            guard let upstream = HostPort.parse(try string(u, "upstream")), upstream.port != 0 else {
                throw error(
                    u, "service \(name): upstream '\(u.scalar?.string ?? "")' is not HOST:PORT, e.g. 127.0.0.1:6379")
            }
            guard let l = field("listen") else {
                throw error(v, "service \(name) has no listen (HOST:PORT where the proxy backend's proxy listens)")
            }
            guard let listen = HostPort.parse(try string(l, "listen")), listen.port != 0 else {
                throw error(
                    l, "service \(name): listen '\(l.scalar?.string ?? "")' is not HOST:PORT, e.g. 127.0.0.1:16379")
            }
            if listen.port == upstream.port {
                throw error(l, "service \(name): the proxy cannot listen on the upstream's port \(upstream.port)")
            }
            var env: String?
            if let e = field("env") {
                let s = try string(e, "env")
                guard s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
                    !(s.first?.isNumber ?? true)
                else {
                    throw error(e, "service \(name): env '\(s)' is not an environment variable name")
                }
                env = s
            }
            let line = keyNode.mark?.line ?? 0
            guard out.count < Scenario.maximumFaultCells else {
                throw error(
                    keyNode, "over \(Scenario.maximumFaultCells) services; a scenario may have at most that many")
            }
            if let other = out.first(where: { $0.upstream.port == upstream.port }) {
                throw error(
                    u,
                    """
                    services \(other.name) and \(name) have the same upstream port \(upstream.port): a kernel fault \
                    on one would fault both
                    """)
            }
            out.append(Scenario.Service(name: name, upstream: upstream, listen: listen, env: env, line: line))
        }
        guard !out.isEmpty else { throw error(node, "services is empty") }
        return out
    }

    func faults(_ node: Node, services: [Scenario.Service]) throws -> [Scenario.Fault] {
        var out: [Scenario.Fault] = []
        var cells = 0
        let entries = try mapping(node, "faults", keys: [])
        // Every fault makes a cell at least: refused before any words are parsed.
        guard entries.count <= Scenario.maximumFaultCells else {
            throw error(
                node, "\(entries.count) faults; a scenario may make at most \(Scenario.maximumFaultCells) "
                    + "cells per backend (split it into several files)")
        }
        for (name, keyNode, v) in entries {
            _ = try self.name(keyNode, "the fault name")
            let fields = try mapping(
                v, "fault \(name)", keys: ["fault", "after", "every", "on", "services", "recover", "timeout"])
            func field(_ k: String) -> Node? { fields.first { $0.key == k }?.value }
            guard let f = field("fault") else {
                throw error(v, "fault \(name) has no 'fault' (netfault's option words, e.g. fault: --delay 10ms)")
            }
            let words = try self.words(f, "fault \(name)")
            var only = services.map(\.name)
            if let s = field("services") {
                let names = try nameList(
                    s, "services", each: "each service",
                    else: "fault \(name): services must be a list of service names")
                for (n, node) in names where !only.contains(n) {
                    throw error(
                        node, "fault \(name): no service '\(n)'; the services are \(only.joined(separator: ", "))")
                }
                only = names.map(\.0)
            }
            let after = try field("after").map { try string($0, "after") }
            let every = try field("every").map { try string($0, "every") }
            let on = try field("on").map { try string($0, "on") }
            do { _ = try Schedule.parse(after: after, every: every, on: on) } catch {
                throw self.error(field("after") ?? field("every") ?? field("on") ?? v, "fault \(name): \(error)")
            }
            let fault = Scenario.Fault(
                name: name, words: words, after: after, every: every, on: on, services: only,
                recover: try field("recover").map { try command($0, "recover").argv },
                timeout: try field("timeout").map { try duration($0, "timeout") }, line: keyNode.mark?.line ?? 0)
            // The words must make a lease, for every service the fault applies to.
            for s in services where only.contains(s.name) {
                cells += 1
                // Checked as it counts: each pair costs a parse of the words, and runs a command twice.
                guard cells <= Scenario.maximumFaultCells else {
                    throw error(
                        keyNode, "the faults and their services make over \(Scenario.maximumFaultCells) cells per "
                            + "backend; a scenario may make at most that many (split it into several files)")
                }
                do {
                    _ = try FaultWords.request(fault, service: s, duration: Duration(nanoseconds: 3_600_000_000_000))
                } catch {
                    throw self.error(f, "fault \(name): \(error)")
                }
            }
            out.append(fault)
        }
        guard !out.isEmpty else { throw error(node, "faults is empty") }
        return out
    }
}
