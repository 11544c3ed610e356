import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP connection: collects a request, has the router answer it, writes the answer.
/// Keep-alive as the client asks.
final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let router: ApiRouter
    let access: ApiAccess
    let guarded: ConnectionGuard
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    /// The access decision, made at the first request: a connection's addresses do not change.
    private var refusal: ApiError??

    init(router: ApiRouter, access: ApiAccess, guarded: ConnectionGuard) {
        self.router = router; self.access = access; self.guarded = guarded
    }

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
            guarded.requestReceived(context: context)
            let keepAlive = head.isKeepAlive
            if tooLarge {
                write(
                    context, .error(ApiError("request body above \(HTTPServer.maximumBody) bytes", status: 413)),
                    version: head.version, keepAlive: false)
                return
            }
            if refusal == nil {
                let channel = context.channel
                refusal = .some(access.refusal(local: channel.localAddress, remote: channel.remoteAddress))
            }
            if let refused = refusal ?? nil {
                write(context, .error(refused), version: head.version, keepAlive: false)
                return
            }
            // Inline: this loop is the API's alone (HTTPServer), so a kernel change blocks no
            // proxy, and the changes stay one at a time, in order, with no hop to another thread.
            let response = router.handle(
                method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) },
                body: body)
            write(context, response, version: head.version, keepAlive: keepAlive)
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
        headers.add(name: RequestID.header, value: RequestID.next())
        let head = HTTPResponseHead(
            version: version, status: HTTPResponseStatus(statusCode: r.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !r.body.isEmpty {
            var buf = context.channel.allocator.buffer(capacity: r.body.count)
            buf.writeBytes(r.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if keepAlive {
            guarded.responded(context: context)
        } else {
            done.whenComplete { _ in context.close(promise: nil) }
        }
    }
}
