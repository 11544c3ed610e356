import ArgumentParser
import FoundationEssentials
import Glibc
import NIOPosix
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import NetFaultServe
import NetFaultWatchdog

/// `netfault serve`: netfault runs this program (netfault-serve, installed beside it).
@main
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netfault serve",
        abstract: "Serve Toxiproxy's HTTP API, with toxics as kernel faults or in a built-in proxy.",
        discussion: """
            Clients written for Toxiproxy (its Ruby, Go, Python, Java and .NET clients, \
            Testcontainers' Toxiproxy module) work unchanged: create a proxy with a listen address \
            and an upstream, add and remove toxics, take the proxy down and up. Each proxy forwards \
            from listen to upstream with either backend.

            --backend kernel (the default) turns each toxic into a netfault lease on the upstream's \
            port, so it reaches the proxy's clients and the clients that connect to the server \
            directly: latency and jitter become netem delay (downstream: responses, upstream: \
            requests), bandwidth a netem rate, timeout a hang (then a reset when it runs out), \
            reset_peer a reset, and a disabled proxy resets connections to the upstream. The \
            daemon holds the leases itself: their nf_tables tables die with it, and their faults \
            end 10s after it stops renewing them (kill -STOP). slicer, slow_close and limit_data \
            get a 400 that says to use the proxy backend. Needs CAP_NET_ADMIN.

            --backend proxy runs the toxics in the proxy's streams, as Toxiproxy does, and touches \
            no kernel state.

            Any local user can reach a loopback port, so the kernel backend faults only the \
            upstream ports of --allow-ports (403 for any other). The API binds loopback; another \
            address needs --token, and a request without `Authorization: Bearer TOKEN` gets 401.

            SIGTERM, SIGINT and SIGHUP revert every fault, close every proxy and exit 0. \
            docs/serve.md has each toxic in both backends and what a client observes.

            Examples:
              sudo netfault serve &
              sudo netfault serve --backend proxy --listen 127.0.0.1:8474 --config proxies.json
              sudo netfault serve --socket /run/netfault/api.sock --group developers
            """,
        version: NetFaultVersion.current)

    @Option(help: "The API's address, HOST:PORT (port 0 picks one, printed at start).")
    var listen = "127.0.0.1:8474"

    @Option(help: "Serve the API on this unix socket (mode 0660) instead of TCP.")
    var socket: String?

    @Option(help: "The group that owns --socket, so its members may use the API.")
    var group: String?

    @Option(help: "Where toxics take effect: kernel (netfault leases) or proxy (user space, as Toxiproxy).")
    var backend: BackendKind = .kernel

    @Option(
        name: .customLong("allow-ports"),
        help: "The upstream ports the kernel backend may fault, comma-separated (default: the known services' ports).")
    var allowPorts: String = Service.allCases.map { String($0.port) }.joined(separator: ",")

    @Option(help: "Require `Authorization: Bearer TOKEN` on every request (needed for a non-loopback --listen).")
    var token: String?

    @Option(help: "Create these proxies at start: Toxiproxy's -config file, a JSON array of proxies.")
    var config: String?

    @Flag(help: "Print the start line as JSON: {\"api\", \"backend\", \"deadline_enforced_by\"}.")
    var json = false

    enum BackendKind: String, ExpressibleByArgument, CaseIterable { case kernel, proxy }

    func parsedPorts() throws -> Set<UInt16> {
        var ports: Set<UInt16> = []
        for part in allowPorts.split(separator: ",", omittingEmptySubsequences: false) {
            guard let p = UInt16(part.trimmed), p > 0 else {
                throw ValidationError("--allow-ports '\(allowPorts)': '\(part)' is not a port 1-65535")
            }
            ports.insert(p)
        }
        return ports
    }

    func address() throws -> ApiAddress {
        if let socket {
            var gid: gid_t?
            if let group {
                guard let g = getgrnam(group) else { throw ValidationError("--group \(group): no such group") }
                gid = g.pointee.gr_gid
            }
            return .unix(path: socket, group: gid)
        }
        if group != nil { throw ValidationError("--group applies to --socket; give --socket PATH") }
        guard let a = HostPort.parse(listen) else {
            throw ValidationError("--listen '\(listen)' is not HOST:PORT (e.g. 127.0.0.1:8474)")
        }
        let loopback = a.host == "localhost" || a.host.hasPrefix("127.") || a.host == "::1"
        if !loopback && token == nil {
            throw ValidationError(
                """
                --listen \(listen) is reachable from other hosts; give --token TOKEN so that only clients that \
                send it may change faults, or listen on 127.0.0.1
                """)
        }
        return .tcp(a)
    }

    /// The config file, parsed and checked before anything starts.
    func configured() throws -> [ProxySettings] {
        guard let config else { return [] }
        guard let data = FileManager.default.contents(atPath: config) else {
            throw ValidationError("--config \(config): cannot read the file")
        }
        do {
            guard case .array(let items) = try JSONValue.parse(Array(data)) else {
                throw ApiError.badRequestBody.joined("the file must hold a JSON array of proxies")
            }
            return try items.enumerated().map { i, v throws(ApiError) in try ProxySettings.parse(v, index: i + 1) }
        } catch {
            throw ValidationError("--config \(config): \((error as? ApiError)?.error ?? "\(error)")")
        }
    }

    func run() throws {
        WatchdogProcess.blockRevertSignals()  // before any thread starts: they inherit the mask
        let address = try address()
        let ports = try parsedPorts()
        let initial = try configured()
        try reporting(endsSoon: false) {
            let toxics: ToxicBackend
            var enforcedBy: String?
            switch backend {
            case .proxy:
                toxics = ProxyBackend()
            case .kernel:
                try requireNetAdmin()
                let journal = try Journal()
                let features = kernelFeatures(journal: journal)
                let k = try KernelBackend(
                    journal: journal, allowPorts: ports, executable: try netfaultExecutable(for: "netfault serve"),
                    withNFTables: features.nfTables, withNetem: features.netem)
                enforcedBy = k.enforcedBy
                toxics = k
            }
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let registry = ProxyRegistry(backend: toxics, group: group)
            let server = HTTPServer(router: ApiRouter(registry: registry, token: token), group: group)
            var bound: ApiAddress
            do {
                let (_, error) = registry.populate(initial)
                if let error { throw ServeError("--config \(config ?? ""): \(error.error)") }
                bound = try server.start(address)
            } catch {
                registry.shutdown()
                throw error
            }
            if json {
                struct Started: Encodable {
                    let api: String, backend: String, deadline_enforced_by: String?
                }
                let line = Started(
                    api: bound.description, backend: backend.rawValue, deadline_enforced_by: enforcedBy)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(line), as: UTF8.self))
            } else {
                print(
                    "netfault serve: Toxiproxy API on \(bound), backend \(backend.rawValue)"
                        + (enforcedBy.map { ", deadlines enforced by \($0)" } ?? ""))
            }
            fflush(nil)
            let signal = WatchdogProcess.waitForRevertSignal(timeLeft: { 86_400 })
            server.stop()
            registry.shutdown()
            try? group.syncShutdownGracefully()
            if case .unix(let path, _) = bound { unlink(path) }
            note("serve: every fault reverted (signal \(signal ?? 0)); exiting")
        }
    }
}

