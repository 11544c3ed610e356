import Dispatch
import Glibc
import NIOCore
import NIOPosix
import Testing
import NetFaultCore
@testable import NetFaultServe

// Real sockets on loopback: an NIO echo server upstream, a ToxicProxy in front of it, and a
// plain blocking client. Timing checks are lower bounds, except "fast again" checks, which
// allow several times the expected time.

/// Echoes what it reads; on EOF it half-closes once everything is written back.
private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var lastWrite: EventLoopFuture<Void>?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastWrite = context.write(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return }
        let channel = context.channel
        (lastWrite ?? context.eventLoop.makeSucceededVoidFuture()).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

private struct Fixture {
    let echo: any Channel
    let proxy: ToxicProxy
    let port: UInt16

    init(toxics: [Toxic] = []) throws {
        let group = MultiThreadedEventLoopGroup.singleton
        echo = try ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        proxy = ToxicProxy(group: group, upstream: HostPort(host: "127.0.0.1", port: UInt16(echo.localAddress!.port!)))
        proxy.setToxics(toxics)
        port = try proxy.start(listen: HostPort(host: "127.0.0.1", port: 0)).port
    }

    func client() throws -> Client { try Client(port: port) }

    func tearDown() {
        proxy.stop()
        try? echo.close().wait()
    }
}

private struct SocketError: Error { let call: String; let errno: Int32 }

/// A blocking TCP client with poll-based timeouts.
private final class Client: @unchecked Sendable {  // one fd; a test uses it from two threads for send and recv
    enum Read: Equatable {
        case data([UInt8])
        case eof
        case failed(Int32)
        case timedOut
    }

    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 {
            let error = errno
            close(fd)
            throw SocketError(call: "connect", errno: error)
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// One read, waiting at most `timeout` milliseconds.
    func read(timeout: Int32) -> Read {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, timeout)
        if ready == 0 { return .timedOut }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { return .data(Array(buffer[..<n])) }
        return n == 0 ? .eof : .failed(errno)
    }

    /// Reads until `count` bytes came, or the stream ended (returned as the second value), or
    /// `timeout` milliseconds passed without data.
    func read(count: Int, timeout: Int32 = 5000) -> ([UInt8], Read?) {
        var bytes: [UInt8] = []
        while bytes.count < count {
            switch read(timeout: timeout) {
            case .data(let d): bytes += d
            case let end: return (bytes, end)
            }
        }
        return (bytes, nil)
    }

    /// Reads until EOF or failure; what came and how it ended.
    func readToEnd(timeout: Int32 = 5000) -> ([UInt8], Read) {
        let (bytes, end) = read(count: .max, timeout: timeout)
        return (bytes, end!)
    }
}

private func now() -> NIODeadline { .now() }

private func milliseconds(since start: NIODeadline) -> Int64 {
    (NIODeadline.now() - start).nanoseconds / 1_000_000
}

private func toxic(_ kind: ToxicKind, _ stream: ToxicStream = .downstream, toxicity: Double = 1) -> Toxic {
    Toxic(kind, stream: stream, toxicity: toxicity)
}

/// Polls `condition` for up to two seconds.
private func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<200 {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

@Suite struct ProxyTests {
    @Test func forwardsMegabytesIntact() throws {
        let f = try Fixture()
        defer { f.tearDown() }
        let client = try f.client()
        var generator = SystemRandomNumberGenerator()
        let data = (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // The echo comes back while we still send, so send from another thread.
        let sent = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            client.send(data)
            client.shutdownWrite()
            sent.signal()
        }
        let (echoed, end) = client.readToEnd()
        sent.wait()
        #expect(echoed.count == data.count)
        #expect(echoed == data)
        #expect(end == .eof)  // the server's close reaches the client
        // GET /metrics's byte counts: every byte read from each side and written to the other.
        let n = UInt64(data.count)
        let counts = f.proxy.traffic.snapshot
        #expect(counts == TrafficCounts(received: [.upstream: n, .downstream: n], sent: [.upstream: n, .downstream: n]))
    }

    @Test func latencyDelaysAndRemovingItIsFastAgain() throws {
        let f = try Fixture(toxics: [
            toxic(.latency(.init(latency: .milliseconds(400))), .upstream),
            toxic(.latency(.init(latency: .milliseconds(400), jitter: .milliseconds(20)))),
        ])
        defer { f.tearDown() }
        let client = try f.client()
        var start = now()
        client.send("ping")
        #expect(client.read(count: 4).0 == Array("ping".utf8))
        #expect(milliseconds(since: start) >= 780)

        f.proxy.setToxics([])
        start = now()
        client.send("pong")
        #expect(client.read(count: 4).0 == Array("pong".utf8))
        #expect(milliseconds(since: start) < 400)  // a round trip on loopback, with room for a busy machine
    }

    @Test func removedLatencyStillDeliversWhatItHeldInOrder() throws {
        let f = try Fixture(toxics: [toxic(.latency(.init(latency: .milliseconds(3000))))])
        defer { f.tearDown() }
        let client = try f.client()
        let start = now()
        client.send("first ")
        usleep(200_000)  // the echo is now held by the latency toxic
        f.proxy.setToxics([])
        client.send("second")
        #expect(client.read(count: 12).0 == Array("first second".utf8))
        #expect(milliseconds(since: start) < 2000)
    }

    @Test func updatingAToxicReleasesWhatItHeldAndTakesTheNewSettings() throws {
        let f = try Fixture(toxics: [toxic(.latency(.init(latency: .milliseconds(3000))))])
        defer { f.tearDown() }
        let client = try f.client()
        let start = now()
        client.send("held ")
        usleep(200_000)
        f.proxy.setToxics([toxic(.latency(.init(latency: .milliseconds(300))))])
        #expect(client.read(count: 5).0 == Array("held ".utf8))
        #expect(milliseconds(since: start) < 2000)
        let again = now()
        client.send("later")
        #expect(client.read(count: 5).0 == Array("later".utf8))
        #expect(milliseconds(since: again) >= 300)
    }

    @Test func latencyAddedToAnOpenConnection() throws {
        let f = try Fixture()
        defer { f.tearDown() }
        let client = try f.client()
        client.send("a")
        #expect(client.read(count: 1).0 == Array("a".utf8))
        f.proxy.setToxics([toxic(.latency(.init(latency: .milliseconds(200))))])
        usleep(20_000)  // setToxics reaches open connections on their event loop
        let start = now()
        client.send("b")
        #expect(client.read(count: 1).0 == Array("b".utf8))
        #expect(milliseconds(since: start) >= 200)
    }

    @Test func timeoutZeroStopsDataAndItsRemovalClosesTheConnection() throws {
        let f = try Fixture(toxics: [toxic(.timeout(.init(timeout: .zero)))])
        defer { f.tearDown() }
        let client = try f.client()
        client.send("lost")
        #expect(client.read(timeout: 300) == .timedOut)  // no data, no EOF
        #expect(f.proxy.connectionCount == 1)

        // As Toxiproxy's Cleanup: what the toxic swallowed is gone, so the connection goes too.
        f.proxy.setToxics([])
        #expect(client.readToEnd().1 == .eof)
        #expect(eventually { f.proxy.connectionCount == 0 })
        let next = try f.client()
        next.send("flows")
        #expect(next.read(count: 5).0 == Array("flows".utf8))
    }

    @Test func timeoutClosesTheConnectionAfterItsTime() throws {
        let f = try Fixture(toxics: [toxic(.timeout(.init(timeout: .milliseconds(200))), .upstream)])
        defer { f.tearDown() }
        let client = try f.client()
        let start = now()
        let (bytes, end) = client.readToEnd()
        #expect(bytes.isEmpty)
        #expect(end == .eof)
        #expect(milliseconds(since: start) >= 200)
        #expect(eventually { f.proxy.connectionCount == 0 })
    }

    @Test func resetPeerResetsTheClient() throws {
        let f = try Fixture(toxics: [toxic(.resetPeer(.init(timeout: .zero)))])
        defer { f.tearDown() }
        let client = try f.client()
        client.send("hello")
        #expect(client.readToEnd().1 == .failed(ECONNRESET))
    }

    @Test func resetPeerWaitsItsTimeout() throws {
        let f = try Fixture(toxics: [toxic(.resetPeer(.init(timeout: .milliseconds(200))), .upstream)])
        defer { f.tearDown() }
        let client = try f.client()
        let start = now()
        client.send("hello")
        #expect(client.readToEnd().1 == .failed(ECONNRESET))
        #expect(milliseconds(since: start) >= 200)
    }

    @Test func limitDataClosesAfterItsBytes() throws {
        let f = try Fixture(toxics: [toxic(.limitData(.init(bytes: 1000)))])
        defer { f.tearDown() }
        let client = try f.client()
        let data = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        client.send(data)
        let (bytes, end) = client.readToEnd()
        #expect(bytes == Array(data[..<1000]))
        #expect(end == .eof)
    }

    @Test func bandwidthCapsThroughput() throws {
        // 100 KB/s: 50 000 bytes take at least half a second.
        let f = try Fixture(toxics: [toxic(.bandwidth(.init(rate: 100)))])
        defer { f.tearDown() }
        let client = try f.client()
        let data = [UInt8](repeating: 42, count: 50_000)
        let start = now()
        client.send(data)
        #expect(client.read(count: data.count).0 == data)
        #expect(milliseconds(since: start) >= 450)
    }

    @Test func slicerKeepsTheDataAndSpacesTheSlices() throws {
        // 100 bytes in 10-byte slices 20 ms apart: at least 9 gaps.
        let slicer = SlicerToxic(averageSize: 10, sizeVariation: 0, delay: .milliseconds(20))
        let f = try Fixture(toxics: [toxic(.slicer(slicer))])
        defer { f.tearDown() }
        let client = try f.client()
        let data = (0..<100).map { UInt8($0) }
        let start = now()
        client.send(data)
        #expect(client.read(count: 100).0 == data)
        #expect(milliseconds(since: start) >= 180)
    }

    @Test func slowCloseDelaysTheServersClose() throws {
        let f = try Fixture(toxics: [toxic(.slowClose(.init(delay: .milliseconds(300))))])
        defer { f.tearDown() }
        let client = try f.client()
        client.send("bye")
        let start = now()
        client.shutdownWrite()  // the echo server half-closes back once it has echoed
        let (bytes, end) = client.readToEnd()
        #expect(bytes == Array("bye".utf8))
        #expect(end == .eof)
        #expect(milliseconds(since: start) >= 300)
    }

    @Test func toxicityZeroNeverApplies() throws {
        let f = try Fixture(toxics: [toxic(.timeout(.init(timeout: .zero)), toxicity: 0)])
        defer { f.tearDown() }
        for _ in 0..<5 {
            let client = try f.client()
            client.send("x")
            #expect(client.read(count: 1, timeout: 2000).0 == Array("x".utf8))
        }
    }

    @Test func stopClosesConnectionsAndRefusesNewOnesAndStartsAgain() throws {
        let f = try Fixture()
        defer { f.tearDown() }
        let client = try f.client()
        client.send("up")
        #expect(client.read(count: 2).0 == Array("up".utf8))
        #expect(f.proxy.connectionCount == 1)

        f.proxy.stop()
        let end = client.readToEnd().1
        #expect(end == .eof || end == .failed(ECONNRESET))
        #expect(f.proxy.connectionCount == 0)
        #expect(throws: SocketError.self) { try f.client() }

        let again = try f.proxy.start(listen: HostPort(host: "127.0.0.1", port: f.port))
        #expect(again.port == f.port)
        let second = try f.client()
        second.send("again")
        #expect(second.read(count: 5).0 == Array("again".utf8))
        #expect(throws: ToxicProxy.Failure.alreadyStarted) {
            _ = try f.proxy.start(listen: HostPort(host: "127.0.0.1", port: 0))
        }
    }

    @Test func anEmptyHostListensOnEveryAddress() throws {
        let f = try Fixture()
        defer { f.tearDown() }
        let proxy = ToxicProxy(group: MultiThreadedEventLoopGroup.singleton, upstream: HostPort(host: "127.0.0.1", port: UInt16(f.echo.localAddress!.port!)))
        let listen = try proxy.start(listen: HostPort(host: "", port: 0))
        defer { proxy.stop() }
        #expect(listen.host == "::" || listen.host == "0.0.0.0")
        let client = try Client(port: listen.port)  // over IPv4
        client.send("v4")
        #expect(client.read(count: 2).0 == Array("v4".utf8))
    }

    @Test func upstreamRefusingClosesTheClient() throws {
        // A port nothing listens on: bind one, note it, close it.
        let probe = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let deadPort = UInt16(probe.localAddress!.port!)
        try probe.close().wait()

        let proxy = ToxicProxy(group: MultiThreadedEventLoopGroup.singleton, upstream: HostPort(host: "127.0.0.1", port: deadPort))
        let listen = try proxy.start(listen: HostPort(host: "127.0.0.1", port: 0))
        defer { proxy.stop() }
        let client = try Client(port: listen.port)
        let end = client.readToEnd().1
        #expect(end == .eof || end == .failed(ECONNRESET))
        #expect(eventually { proxy.connectionCount == 0 })
    }

    @Test func sliceLengthsCoverTheChunkWithinTheVariation() {
        for _ in 0..<50 {
            let lengths = sliceLengths(of: 10_000, averageSize: 100, sizeVariation: 30)
            #expect(lengths.reduce(0, +) == 10_000)
            #expect(lengths.allSatisfy { $0 > 0 && $0 <= 130 })
        }
        #expect(sliceLengths(of: 5, averageSize: 0, sizeVariation: 0) == [1, 1, 1, 1, 1])
        #expect(sliceLengths(of: 0, averageSize: 10, sizeVariation: 0) == [])
    }
}

@Suite struct RegistryProxyTests {
    @Test("a toxic added through the API reaches the forwarder's connections through the backend, and goes with it")
    func toxicsReachTheForwarder() throws {
        let f = try Fixture()
        defer { f.tearDown() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry = ProxyRegistry(backend: ProxyBackend(), group: group, listenPolicy: .loopback)
        defer {
            registry.shutdown()
            try? group.syncShutdownGracefully()
        }
        let router = ApiRouter(registry: registry)
        let upstream = "127.0.0.1:\(f.echo.localAddress!.port!)"
        let created = router.handle(
            method: "POST", uri: "/proxies", body: Array(#"{"name":"p","upstream":"\#(upstream)"}"#.utf8))
        #expect(created.status == 201)
        let port = try #require(HostPort.parse(try registry.proxy("p").listen)).port
        let limit = #"{"name":"cut","type":"limit_data","attributes":{"bytes":5}}"#
        #expect(router.handle(method: "POST", uri: "/proxies/p/toxics", body: Array(limit.utf8)).status == 200)
        let cut = try Client(port: port)
        cut.send("0123456789")
        let (bytes, end) = cut.readToEnd()
        #expect(bytes == Array("01234".utf8) && end == .eof)
        #expect(router.handle(method: "DELETE", uri: "/proxies/p/toxics/cut").status == 204)
        let whole = try Client(port: port)
        whole.send("0123456789")
        #expect(whole.read(count: 10).0 == Array("0123456789".utf8))
    }
}
