import ArgumentParser
import FoundationEssentials
import Glibc
import NIOPosix
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import NetFaultServe
import NetFaultLeases

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
            reset_peer a reset, downstream limit_data a byte budget per connection (--limit-data: \
            the client is reset once the server sent that much), and a disabled proxy resets \
            connections to the upstream. A toxicity between 0 and 1 takes that share of new \
            connections, each drawn once at its SYN (netfault's --connections), one draw for all of \
            a stream's toxics. The daemon holds the leases itself: their nf_tables tables die with \
            it, and their faults end 10s after it stops renewing them (kill -STOP). slicer, \
            slow_close and upstream limit_data get a 400 that says to use the proxy backend, as do a \
            toxicity between 0 and 1 on a downstream latency or bandwidth toxic to a remote \
            (non-loopback) upstream (its responses are shaped before netfilter sees them), jitter \
            without latency, and latency or jitter over 60 s. Needs CAP_NET_ADMIN.

            --backend proxy runs the toxics in the proxy's streams, as Toxiproxy does, and touches \
            no kernel state.

            GET /metrics answers in the Prometheus text format: Toxiproxy's \
            toxiproxy_proxy_received_bytes_total and toxiproxy_proxy_sent_bytes_total per proxy and \
            direction, and with the kernel backend netfault_toxic_matched_packets_total and \
            netfault_toxic_matched_bytes_total per toxic (the counters of its nf_tables rules, or \
            the packets of its netem qdiscs where the kernel has no nf_tables).

            Who may call: on a loopback --listen (127.0.0.0/8, ::1) the kernel says which user owns \
            the calling socket; root, the daemon's own user, the user who started it with sudo \
            (SUDO_UID) and those of --allow-user and --allow-group may call, anyone else gets 403. A \
            root forwarder (socat, kubectl port-forward) makes every caller look like root. On \
            --socket, the socket's mode (0660) and --group decide. Any other --listen needs a token \
            from --token-file PATH or NETFAULT_TOKEN (never the command line, where ps shows it), \
            and a request without `Authorization: Bearer TOKEN` gets 401.

            Proxies listen on loopback and on ports from 1024 unless --allow-listen (e.g. 0.0.0.0, \
            which Testcontainers' 0.0.0.0:PORT needs) and --allow-privileged-ports widen it; other \
            listen addresses get 403. The kernel backend faults only the upstream ports of \
            --allow-ports (403 for any other). A request must arrive whole within 10 s of the \
            connection's start or its first byte; beyond 256 connections the oldest that has not \
            sent a request is closed.

            SIGTERM, SIGINT and SIGHUP revert every fault, close every proxy and exit 0. It \
            exits without serving with 64 for a --config proxy the API would refuse (400, 403), 73 \
            for one named twice, and 73 for a --socket path that is not a socket or where a daemon \
            answers. docs/serve.md \
            has each toxic in both backends and what a client observes.

            Examples:
              sudo netfault serve &
              sudo netfault serve --backend proxy --config proxies.json
              sudo netfault serve --socket /run/netfault/api.sock --group developers
              sudo netfault serve --allow-group developers --allow-listen 0.0.0.0
              sudo netfault serve --listen 10.0.0.5:8474 --token-file /etc/netfault/token
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
        help: "The upstream ports the kernel backend may fault, comma-separated: by default the known services'.")
    var allowPorts: String = Service.allCases.map { String($0.port) }.joined(separator: ",")

    @OptionGroup(title: "Access")
    var access: AccessOptions

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

    func address(token: String?) throws -> ApiAddress {
        if let socket {
            if !access.allowUser.isEmpty || !access.allowGroup.isEmpty {
                throw ValidationError(
                    "--allow-user and --allow-group apply to a loopback --listen; on --socket the socket's mode "
                        + "and --group decide who may call")
            }
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
        if !IPRange.isLoopback(host: a.host) {
            if token == nil {
                throw ValidationError(
                    "--listen \(listen) is reachable from other hosts; give --token-file PATH (or NETFAULT_TOKEN) so "
                        + "that only clients that send the token may change faults, or listen on 127.0.0.1")
            }
            if !access.allowUser.isEmpty || !access.allowGroup.isEmpty {
                throw ValidationError(
                    "--allow-user and --allow-group apply to a loopback --listen; on \(listen) the token decides")
            }
        }
        return .tcp(a)
    }

    /// Who may call: on a loopback address the kernel says which user owns the calling socket;
    /// elsewhere the token, on a unix socket its mode.
    func apiAccess(_ address: ApiAddress, environment: [String: String]) throws -> ApiAccess {
        guard case .tcp(let a) = address, IPRange.isLoopback(host: a.host) else { return .anyConnection }
        return .loopbackOwners(try access.callerPolicy(environment: environment), SockDiagOwners())
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

    /// The start line: where the API is, the backend, who ends the kernel faults.
    func printStarted(_ bound: ApiAddress, enforcedBy: String?) throws {
        if json {
            struct Started: Encodable {
                let api: String, backend: String, deadline_enforced_by: String?
            }
            let line = Started(api: bound.description, backend: backend.rawValue, deadline_enforced_by: enforcedBy)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(line), as: UTF8.self))
        } else {
            print(
                "netfault serve: Toxiproxy API on \(bound), backend \(backend.rawValue)"
                    + (enforcedBy.map { ", deadlines enforced by \($0)" } ?? ""))
        }
        fflush(nil)
    }

    func run() throws {
        WatchdogProcess.blockRevertSignals()  // before any thread starts: they inherit the mask
        let environment = ProcessInfo.processInfo.environment
        let token = try access.readToken(environment: environment)
        unsetenv("NETFAULT_TOKEN")  // the watchdogs it starts need no token
        let address = try address(token: token)
        let callers = try apiAccess(address, environment: environment)
        let listenPolicy = try access.listenPolicy()
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
            let registry = ProxyRegistry(backend: toxics, group: group, listenPolicy: listenPolicy)
            let server = HTTPServer(router: ApiRouter(registry: registry, token: token), access: callers)
            var bound: ApiAddress
            do {
                let (_, error) = registry.populate(initial)
                if let error { throw ServeError.config(config ?? "", error) }
                bound = try server.start(address)
            } catch {
                registry.shutdown()
                throw error
            }
            try printStarted(bound, enforcedBy: enforcedBy)
            let signal = WatchdogProcess.waitForRevertSignal(timeLeft: { 86_400 })
            server.stop()
            registry.shutdown()
            try? group.syncShutdownGracefully()
            if case .unix(let path, _) = bound { unlink(path) }
            note("serve: every fault reverted (signal \(signal ?? 0)); exiting")
        }
    }
}

