import FoundationEssentials
import Glibc
import NIOCore
import NetFaultCore
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

/// The API over HTTP/1.1 (SwiftNIO), on an event loop of its own, off the loops the proxies
/// forward on: a kernel change may take milliseconds. Each request is answered on that loop's
/// thread, so the changes are made one at a time, in order, with no hop to a worker thread and
/// back (two thread wake-ups per request: 0.15 ms of a toxic's 2.3 ms POST+DELETE when idle).
public final class HTTPServer: @unchecked Sendable {
    let router: ApiRouter
    let access: ApiAccess
    let limits: ConnectionLimits
    let loop: MultiThreadedEventLoopGroup
    private var channel: Channel?
    /// The largest request body taken (Toxiproxy's bodies are a few hundred bytes; a populate
    /// of hundreds of proxies fits). Bounded so that every open connection together stays small.
    static let maximumBody = 64 << 10

    public init(router: ApiRouter, access: ApiAccess = .anyConnection, limits: ConnectionLimits = ConnectionLimits()) {
        self.router = router; self.access = access; self.limits = limits
        loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds and starts serving; returns the bound address (port 0 picks one).
    @discardableResult
    public func start(_ address: ApiAddress) throws -> ApiAddress {
        let router = router, access = access, limits = limits
        let connections = ConnectionTable(maximum: limits.connections)
        let bootstrap = ServerBootstrap(group: loop)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let guarded = ConnectionGuard(table: connections, limits: limits)
                return channel.pipeline.addHandler(guarded).flatMap {
                    channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                }.flatMap {
                    channel.pipeline.addHandler(
                        RequestHandler(router: router, access: access, guarded: guarded))
                }
            }
        switch address {
        case .tcp(let a):
            let c = try bootstrap.bind(host: a.host.isEmpty ? "0.0.0.0" : a.host, port: Int(a.port)).wait()
            channel = c
            return .tcp(HostPort(host: a.host, port: UInt16(c.localAddress?.port ?? Int(a.port))))
        case .unix(let path, let group):
            try Self.removeStaleSocket(path)
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

    /// A socket file left by a daemon that was killed refuses connections, so it is stale and
    /// removed; one that answers belongs to a live daemon, and anything but a socket (a file
    /// given by mistake) is no daemon's to delete: both are refused.
    static func removeStaleSocket(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw ServeError(
                "--socket \(path) exists and is not a socket; give a new path, or remove the file",
                exitStatus: ExitStatus.cantCreate)
        }
        guard !answers(path) else {
            throw ServeError(
                "--socket \(path): another daemon answers on it; stop it or give another path",
                exitStatus: ExitStatus.cantCreate)
        }
        unlink(path)
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
        try? loop.syncShutdownGracefully()
    }
}

/// The daemon cannot start as asked: a message and the exit status it ends with, as every
/// netfault error has (64 a bad configuration, 73 a socket path it will not take, 71 the system).
public struct ServeError: NetfaultError, CustomStringConvertible {
    public let description: String
    public let exitStatus: Int32
    public init(_ d: String, exitStatus: Int32 = ExitStatus.osError) { description = d; self.exitStatus = exitStatus }

    /// A proxy of --config the registry refused, with the failure's exit status.
    public static func config(_ file: String, _ failure: ServeFailure) -> ServeError {
        ServeError("--config \(file): \(failure)", exitStatus: failure.exitStatus)
    }

    /// A proxy of --config the registry refused: its HTTP status says whose fault it is.
    public static func config(_ file: String, _ error: ApiError) -> ServeError {
        let status = switch error.status {
        case 400..<409, 410..<500: ExitStatus.usage
        case 409: ExitStatus.cantCreate
        default: ExitStatus.osError
        }
        return ServeError("--config \(file): \(error.error)", exitStatus: status)
    }
}
