import FoundationEssentials
import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where the API listens: a TCP address, or a unix socket (mode 0660, owned by `group`).
public enum ApiAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(HostPort)
    case unix(path: String, group: gid_t?)

    public var description: String {
        switch self {
        case .tcp(let a): "http://\(a)"
        case .unix(let path, _): "unix:\(path)"
        }
    }
}

/// The API over HTTP/1.1 (SwiftNIO). Requests run on a thread pool, off the event loops the
/// proxies forward on: a kernel change may take milliseconds.
public final class HTTPServer: @unchecked Sendable {
    let router: ApiRouter
    let group: any EventLoopGroup
    let pool: NIOThreadPool
    private var channel: Channel?
    /// The largest request body taken (Toxiproxy's bodies are a few hundred bytes).
    static let maximumBody = 1 << 20

    public init(router: ApiRouter, group: any EventLoopGroup) {
        self.router = router; self.group = group
        pool = NIOThreadPool(numberOfThreads: 1)  // one change at a time, in order
        pool.start()
    }

    /// Binds and starts serving; returns the bound address (port 0 picks one).
    @discardableResult
    public func start(_ address: ApiAddress) throws -> ApiAddress {
        let router = router, pool = pool
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(RequestHandler(router: router, pool: pool))
                }
            }
        switch address {
        case .tcp(let a):
            let c = try bootstrap.bind(host: a.host.isEmpty ? "0.0.0.0" : a.host, port: Int(a.port)).wait()
            channel = c
            return .tcp(HostPort(host: a.host, port: UInt16(c.localAddress?.port ?? Int(a.port))))
        case .unix(let path, let group):
            // A socket file left by a daemon that was killed: it refuses connections, so it is
            // stale; one that answers belongs to a live daemon and is left alone.
            if access(path, F_OK) == 0 && !Self.answers(path) { unlink(path) }
            let old = umask(0o117)
            defer { umask(old) }
            channel = try bootstrap.bind(unixDomainSocketPath: path).wait()
            chmod(path, 0o660)
            if let group, chown(path, UInt32.max, group) != 0 {
                throw ServeError("changing the group of \(path): \(String(cString: strerror(errno)))")
            }
            return address
        }
    }

    static func answers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in path.utf8.prefix(buf.count - 1).enumerated() { buf[i] = b }
        }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    public func stop() {
        try? channel?.close().wait()
        try? pool.syncShutdownGracefully()
    }
}

public struct ServeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// One HTTP connection: collects a request, has the router answer it on the pool, writes the
/// answer. Keep-alive as the client asks.
final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let router: ApiRouter
    let pool: NIOThreadPool
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(router: ApiRouter, pool: NIOThreadPool) { self.router = router; self.pool = pool }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            tooLarge = false
        case .body(var b):
            if body.count + b.readableBytes > HTTPServer.maximumBody { tooLarge = true } else {
                body += b.readBytes(length: b.readableBytes) ?? []
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let keepAlive = head.isKeepAlive
            if tooLarge {
                write(
                    context, .error(ApiError("request body above \(HTTPServer.maximumBody) bytes", status: 413)),
                    version: head.version, keepAlive: false)
                return
            }
            let router = router, body = body
            let headers = head.headers.map { ($0.name, $0.value) }
            let loop = context.eventLoop
            let ctx = NIOLoopBound(context, eventLoop: loop)
            pool.runIfActive(eventLoop: loop) {
                router.handle(method: head.method.rawValue, uri: head.uri, headers: headers, body: body)
            }.whenComplete { result in
                let response = (try? result.get()) ?? .error(ApiError("the daemon is shutting down", status: 503))
                self.write(ctx.value, response, version: head.version, keepAlive: keepAlive)
            }
        }
    }

    private func write(_ context: ChannelHandlerContext, _ r: ApiResponse, version: HTTPVersion, keepAlive: Bool) {
        var headers = HTTPHeaders()
        if r.status != 204 {
            headers.add(name: "Content-Type", value: r.contentType)
            headers.add(name: "Content-Length", value: String(r.body.count))
        }
        if r.contentType.hasPrefix("text/plain") { headers.add(name: "X-Content-Type-Options", value: "nosniff") }
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: r.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !r.body.isEmpty {
            var buf = context.channel.allocator.buffer(capacity: r.body.count)
            buf.writeBytes(r.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }
}
