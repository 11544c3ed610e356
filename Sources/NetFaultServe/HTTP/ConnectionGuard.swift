import NIOConcurrencyHelpers
import NIOCore

/// What one client can make the API hold: connections that send a request slowly, or never.
public struct ConnectionLimits: Sendable {
    /// Open connections at most; a new one beyond it closes the oldest that has not sent a
    /// whole request (a slow or silent client), so a caller with a request still gets in.
    public var connections: Int
    /// From a connection's start, or a request's first byte, until the whole request is in.
    public var requestTime: TimeAmount
    /// A kept-alive connection with no request started.
    public var idleTime: TimeAmount

    public init(connections: Int = 256, requestTime: TimeAmount = .seconds(10), idleTime: TimeAmount = .seconds(60)) {
        self.connections = connections; self.requestTime = requestTime; self.idleTime = idleTime
    }
}

/// The API's open connections, oldest first, and whether each has sent a whole request.
final class ConnectionTable: @unchecked Sendable {
    struct Slot {
        let channel: Channel
        let order: UInt64
        var served = false
    }

    let maximum: Int
    private let lock = NIOLock()
    private var open: [ObjectIdentifier: Slot] = [:]
    private var next: UInt64 = 0

    init(maximum: Int) { self.maximum = max(1, maximum) }

    /// Takes a new connection in; returns the one to close to make room, if any: the oldest
    /// that has not sent a whole request, else the oldest.
    func admit(_ channel: Channel) -> Channel? {
        lock.withLock {
            var evicted: Channel?
            if open.count >= maximum {
                let victim = open.min { a, b in
                    a.value.served != b.value.served ? !a.value.served : a.value.order < b.value.order
                }
                if let victim {
                    open[victim.key] = nil
                    evicted = victim.value.channel
                }
            }
            next += 1
            open[ObjectIdentifier(channel)] = Slot(channel: channel, order: next)
            return evicted
        }
    }

    func served(_ channel: Channel) { lock.withLock { open[ObjectIdentifier(channel)]?.served = true } }

    func remove(_ channel: Channel) { lock.withLock { open[ObjectIdentifier(channel)] = nil } }

    var count: Int { lock.withLock { open.count } }
}

/// First in each API connection's pipeline, seeing its raw bytes: closes a connection that
/// takes longer than `requestTime` to send a request (slowloris) or idles past `idleTime`,
/// and keeps the number of connections within the table's maximum.
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let table: ConnectionTable
    let limits: ConnectionLimits
    private var deadline: Scheduled<Void>?
    /// Between a response and the next request's first byte (idle time applies).
    private var idle = false

    init(table: ConnectionTable, limits: ConnectionLimits) { self.table = table; self.limits = limits }

    func channelActive(context: ChannelHandlerContext) {
        table.admit(context.channel)?.close(promise: nil)
        arm(context, limits.requestTime)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if idle {
            idle = false
            arm(context, limits.requestTime)
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        table.remove(context.channel)
        context.fireChannelInactive()
    }

    /// A whole request is in: the time to answer it is the daemon's, not the client's.
    func requestReceived(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        idle = false
        table.served(context.channel)
    }

    /// The answer is written and the connection kept alive: the next request may wait.
    func responded(context: ChannelHandlerContext) {
        idle = true
        arm(context, limits.idleTime)
    }

    private func arm(_ context: ChannelHandlerContext, _ time: TimeAmount) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: time) { channel.close(promise: nil) }
    }
}
