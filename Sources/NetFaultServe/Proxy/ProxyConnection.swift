import NIOCore
import NIOPosix

/// One proxied connection: the accepted client, its connection to upstream, and the two
/// stream pumps between them (upstream: client → server, downstream: server → client).
///
/// Thread-safe by confinement: every mutable field is touched only on the client channel's
/// event loop (the upstream channel is opened on the same loop); the entry points other
/// threads call hop onto it.
final class ProxyConnection: @unchecked Sendable {
    enum Side { case client, server }

    let client: any Channel
    var eventLoop: any EventLoop { client.eventLoop }
    private weak var owner: ToxicProxy?
    /// The proxy's byte counts, which the pumps add to.
    let traffic: TrafficTally

    private var server: (any Channel)?
    private var pumps: [ToxicStream: StreamPump] = [:]
    private var endedStreams: Set<ToxicStream> = []
    private var closing = false
    /// What the client sent before upstream answered. NIO reads a socket to its end when the
    /// peer half-closes, even with autoRead off, so this is at most a receive buffer.
    private var early: [ByteBuffer] = []
    private var earlyEOF = false
    /// The newest toxics this connection was given (setToxics may race with accept).
    private var toxicsGeneration = -1
    private var toxics: [Toxic] = []

    init(client: any Channel, owner: ToxicProxy) {
        self.client = client
        self.owner = owner
        self.traffic = owner.traffic
        // However the client goes, the upstream side goes with it and the proxy forgets it.
        client.closeFuture.whenComplete { [self, weak owner] _ in
            close()
            owner?.forget(self)
        }
    }

    // MARK: Setup

    /// The client is active: connect upstream, then start both pumps. Upstream refusing
    /// closes the client (as Toxiproxy does).
    func clientActive() {
        guard let owner, let (upstream, toxics, generation) = owner.settingsForNewConnection() else {
            close()
            return
        }
        takeToxics(toxics, generation: generation)
        let host = upstream.host.isEmpty ? "localhost" : upstream.host
        ClientBootstrap(group: eventLoop)
            .channelOption(.autoRead, value: false)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ProxySideHandler(side: .server, connection: self))
                }
            }
            .connect(host: host, port: Int(upstream.port))
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    guard !closing else {
                        channel.close(promise: nil)
                        return
                    }
                    server = channel
                    let up = StreamPump(direction: .upstream, source: client, destination: channel, connection: self)
                    let down = StreamPump(
                        direction: .downstream, source: channel, destination: client, connection: self)
                    pumps = [.upstream: up, .downstream: down]
                    up.start(toxics: self.toxics.filter { $0.stream == .upstream }, early: early, earlyEOF: earlyEOF)
                    early = []
                    down.start(toxics: self.toxics.filter { $0.stream == .downstream })
                case .failure:
                    close()
                }
            }
    }

    // MARK: Toxics

    /// From any thread: the toxics open connections now run.
    func setToxics(_ toxics: [Toxic], generation: Int) {
        eventLoop.execute { self.takeToxics(toxics, generation: generation) }
    }

    private func takeToxics(_ toxics: [Toxic], generation: Int) {
        guard generation > toxicsGeneration, !closing else { return }
        toxicsGeneration = generation
        let cleanup = self.toxics.contains { t in
            t.kind.proxied.closesWhenRemoved && !toxics.contains { $0.name == t.name }
        }
        self.toxics = toxics
        if cleanup {
            close()
            return
        }
        for (direction, pump) in pumps { pump.setToxics(toxics.filter { $0.stream == direction }) }
    }

    // MARK: Events from the channels

    private func pump(from side: Side) -> StreamPump? {
        pumps[side == .client ? .upstream : .downstream]
    }

    private func pump(into side: Side) -> StreamPump? {
        pumps[side == .client ? .downstream : .upstream]
    }

    func received(_ buffer: ByteBuffer, from side: Side) {
        if let pump = pump(from: side) {
            pump.received(buffer)
        } else {
            early.append(buffer)
        }
    }

    func readComplete(from side: Side) { pump(from: side)?.readComplete() }

    func inputClosed(from side: Side) {
        if let pump = pump(from: side) {
            pump.inputClosed(closeConnection: false)
        } else {
            earlyEOF = true
        }
    }
    func writabilityChanged(of side: Side) { pump(into: side)?.destinationWritabilityChanged() }

    /// A side is gone (reset, error, or closed by us): what is in flight from it still goes
    /// through the chain, whose end then closes the connection.
    func inactive(_ side: Side) {
        guard !closing else { return }
        if let pump = pump(from: side) {
            pump.inputClosed(closeConnection: true)
        } else {
            close()
        }
    }

    /// A direction passed on its EOF; once both have, the connection is done.
    func streamEnded(_ direction: ToxicStream) {
        endedStreams.insert(direction)
        if endedStreams.count == 2 { close() }
    }

    // MARK: Closing

    /// Closes both sides (on the event loop).
    func close() {
        guard !closing else { return }
        closing = true
        for pump in pumps.values { pump.stop() }
        client.close(promise: nil)
        server?.close(promise: nil)
    }

    /// Closes both sides with RST (SO_LINGER {1, 0}), as reset_peer does.
    func reset() {
        guard !closing else { return }
        for channel in [client, server].compactMap({ $0 }) {
            if let options = channel as? any SocketOptionProvider {
                _ = options.setSoLinger(NIOLinger(l_onoff: 1, l_linger: 0))
            }
        }
        close()
    }

    /// From any thread: closes both sides; the future completes once the client is closed.
    func closeFromOutside() -> EventLoopFuture<Void> {
        eventLoop.execute { self.close() }
        return client.closeFuture
    }
}

/// Forwards one channel's events to its connection. Data is read on demand (autoRead off).
final class ProxySideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let side: ProxyConnection.Side
    let connection: ProxyConnection

    init(side: ProxyConnection.Side, connection: ProxyConnection) {
        self.side = side
        self.connection = connection
    }

    func channelActive(context: ChannelHandlerContext) {
        if side == .client { connection.clientActive() }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.received(unwrapInboundIn(data), from: side)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.readComplete(from: side)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            connection.inputClosed(from: side)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(of: side)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.inactive(side)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A read or write failed (e.g. ECONNRESET): the channel closes, channelInactive follows.
        context.close(promise: nil)
    }
}
