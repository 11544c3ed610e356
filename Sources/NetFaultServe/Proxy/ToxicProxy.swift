import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A user-space TCP proxy running Toxiproxy's toxics (the proxy backend of `netfault serve`):
/// it listens, connects each accepted client to upstream, and pipes both directions through
/// the toxics of that direction, in order.
///
/// Thread-safe. The methods may block briefly (binding, closing) and must not be called on
/// one of `group`'s event loops.
public final class ToxicProxy: @unchecked Sendable {
    public enum Failure: Error, Equatable {
        case alreadyStarted
    }

    private struct State {
        var upstream: HostPort
        var toxics: [Toxic] = []
        /// Bumped on every setToxics, so a connection keeps the newest list whatever order
        /// the updates reach its event loop in.
        var toxicsGeneration = 0
        var listener: (any Channel)?
        /// Bumped on every start and stop: a connection accepted by an older listener is refused.
        var epoch = 0
        var connections: [ObjectIdentifier: ProxyConnection] = [:]
    }

    private let group: any EventLoopGroup
    private let state: NIOLockedValueBox<State>
    /// Bytes this proxy's connections read and wrote, by stream (GET /metrics).
    public let traffic = TrafficTally()
    /// Serializes start and stop (which block while holding no state lock).
    private let lifecycle = NIOLock()

    public init(group: any EventLoopGroup, upstream: HostPort) {
        self.group = group
        self.state = NIOLockedValueBox(State(upstream: upstream))
    }

    /// Binds `listen` (port 0 picks one; an empty host is every address) and starts
    /// accepting; returns the bound address.
    public func start(listen: HostPort) throws -> HostPort {
        try lifecycle.withLock {
            guard state.withLockedValue({ $0.listener == nil }) else { throw Failure.alreadyStarted }
            let epoch = state.withLockedValue { s in
                s.epoch += 1
                return s.epoch
            }
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.autoRead, value: false)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { [weak self] channel in
                    guard let self else { return channel.close() }
                    return channel.eventLoop.makeCompletedFuture {
                        let connection = ProxyConnection(client: channel, owner: self)
                        guard self.register(connection, epoch: epoch) else {
                            throw ChannelError.ioOnClosedChannel
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            ProxySideHandler(side: .client, connection: connection))
                    }
                }
            let channel: any Channel
            if listen.host.isEmpty {
                // Every address: IPv6 (dual-stack where the host allows), else IPv4.
                let dualStack = bootstrap.serverChannelOption(
                    ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 0)
                channel = try (try? dualStack.bind(host: "::", port: Int(listen.port)).waitedFor())
                    ?? bootstrap.bind(host: "0.0.0.0", port: Int(listen.port)).waitedFor()
            } else {
                channel = try bootstrap.bind(host: listen.host, port: Int(listen.port)).waitedFor()
            }
            state.withLockedValue { $0.listener = channel }
            let address = channel.localAddress
            return HostPort(host: address?.ipAddress ?? listen.host, port: UInt16(address?.port ?? Int(listen.port)))
        }
    }

    /// Closes the listener and every open connection, both sides (as Toxiproxy's disable does).
    public func stop() {
        lifecycle.withLock {
            let (listener, connections) = state.withLockedValue { s in
                s.epoch += 1
                defer { s.listener = nil }
                return (s.listener, Array(s.connections.values))
            }
            try? listener?.close().waitedFor()
            let closed = connections.map { $0.closeFromOutside() }
            if !closed.isEmpty {
                try? EventLoopFuture.andAllComplete(closed, on: group.any()).waitedFor()
            }
        }
    }

    /// The toxics connections run: open connections and new ones take the new list. Toxicity
    /// is drawn per connection and per toxic when the toxic meets the connection (and again
    /// when it changes), as in Toxiproxy.
    public func setToxics(_ toxics: [Toxic]) {
        let (generation, connections) = state.withLockedValue { s in
            s.toxics = toxics
            s.toxicsGeneration += 1
            return (s.toxicsGeneration, Array(s.connections.values))
        }
        for connection in connections { connection.setToxics(toxics, generation: generation) }
    }

    /// Where new connections go; open ones stay where they are.
    public func setUpstream(_ upstream: HostPort) {
        state.withLockedValue { $0.upstream = upstream }
    }

    /// Open client connections right now.
    public var connectionCount: Int {
        state.withLockedValue { $0.connections.count }
    }

    // MARK: For connections

    private func register(_ connection: ProxyConnection, epoch: Int) -> Bool {
        state.withLockedValue { s in
            guard s.epoch == epoch else { return false }
            s.connections[ObjectIdentifier(connection)] = connection
            return true
        }
    }

    func settingsForNewConnection() -> (upstream: HostPort, toxics: [Toxic], generation: Int)? {
        state.withLockedValue { s in (s.upstream, s.toxics, s.toxicsGeneration) }
    }

    func forget(_ connection: ProxyConnection) {
        _ = state.withLockedValue { $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
    }
}
