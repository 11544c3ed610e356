import Glibc
import NIOCore
import NIOEmbedded
@testable import NetFaultKernel
import Testing
@testable import NetFaultServe

/// A lookup that answers what the test says (the policy's logic); SockDiagOwners is the kernel's.
struct FixedOwner: SocketOwnerLookup {
    let answer: uid_t?
    func uid(of ends: TCPEnds) throws -> uid_t {
        guard let answer else { throw ServeError("no such socket") }
        return answer
    }
}

@Suite struct CallerPolicyTests {
    let local = try! SocketAddress(ipAddress: "127.0.0.1", port: 8474)
    let caller = try! SocketAddress(ipAddress: "127.0.0.1", port: 40_000)

    @Test("root, the daemon's user, SUDO_UID and --allow-user may call; others get 403 naming --allow-user")
    func users() throws {
        let p = CallerPolicy.owners(environment: ["SUDO_UID": "1000"], euid: 990, allowUsers: [1001])
        for uid: uid_t in [0, 990, 1000, 1001] { #expect(p.refusal(uid: uid) == nil, "uid \(uid)") }
        let refused = try #require(p.refusal(uid: 65534))
        #expect(refused.status == 403 && refused.error.contains("--allow-user") && refused.error.contains("65534"))
        #expect(CallerPolicy.owners(environment: ["SUDO_UID": "x"], euid: 0).users == [0])
    }

    @Test("--allow-group lets members in by their primary or supplementary groups")
    func groups() {
        let p = CallerPolicy(users: [0], groups: [50]) { uid in uid == 1 ? [100, 50] : uid == 2 ? [100] : nil }
        #expect(p.refusal(uid: 1) == nil)
        #expect(p.refusal(uid: 2)?.status == 403)
        #expect(p.refusal(uid: 3)?.status == 403)  // unknown user
        #expect(UserDatabase.groups(of: 0)?.contains(0) == true)
    }

    @Test("a lookup that fails refuses; a caller not on loopback is refused; an allowed owner passes")
    func access() {
        let policy = CallerPolicy(users: [0])
        #expect(ApiAccess.loopbackOwners(policy, FixedOwner(answer: 0)).refusal(local: local, remote: caller) == nil)
        let stranger = ApiAccess.loopbackOwners(policy, FixedOwner(answer: 65534)).refusal(local: local, remote: caller)
        #expect(stranger?.status == 403 && stranger?.error.contains("--allow-user") == true)
        let failed = ApiAccess.loopbackOwners(policy, FixedOwner(answer: nil)).refusal(local: local, remote: caller)
        #expect(failed?.status == 403 && failed?.error.contains("cannot tell") == true)
        let remote = try! SocketAddress(ipAddress: "10.0.0.5", port: 40_000)
        #expect(ApiAccess.loopbackOwners(policy, FixedOwner(answer: 0)).refusal(local: local, remote: remote)?.status == 403)
        #expect(ApiAccess.anyConnection.refusal(local: local, remote: remote) == nil)
    }

    @Test("the caller's ends: its own address first; v4-mapped and ::1 count as loopback")
    func ends() throws {
        let e = try #require(ApiAccess.callerEnds(local: local, remote: caller))
        #expect(e == TCPEnds(local: [127, 0, 0, 1], localPort: 40_000, remote: [127, 0, 0, 1], remotePort: 8474))
        #expect(IPRange.isLoopback(IPRange.bytes("::ffff:127.1.2.3")!))
        #expect(IPRange.isLoopback(IPRange.bytes("::1")!))
        #expect(!IPRange.isLoopback(IPRange.bytes("::ffff:10.0.0.1")!))
        #expect(!IPRange.isLoopback(IPRange.bytes("::")!))
        #expect(IPRange.isLoopback(host: "localhost") && !IPRange.isLoopback(host: ""))
    }

    @Test("sock_diag names this process's user as the owner of its own loopback connection, and nobody once it closed")
    func kernelLookup() throws {
        // Others first, so the caller is not on /proc/net/tcp's first page (one read(2) of it).
        let others = try (0..<30).flatMap { _ in try [connectedPair("127.0.0.1"), connectedPair("::1")] }
        defer { for (a, b) in others { close(a); close(b) } }
        for host in ["127.0.0.1", "::1"] {
            let (client, server) = try connectedPair(host)
            defer { close(server) }
            let ends = try #require(ApiAccess.callerEnds(local: try address(server, peer: false),
                remote: try address(server, peer: true)))
            #expect(try SockDiagOwners().uid(of: ends) == geteuid(), "\(host)")
            // The fallback for a kernel without tcp_diag reads the same from /proc/net/tcp(6).
            #expect(TCPSocketOwner.fromProc(ends) == geteuid(), "\(host) in /proc")
            close(client)
            #expect(TCPSocketOwner.fromProc(ends) == nil, "\(host): a closed caller in /proc")
            #expect(throws: (any Error).self, "\(host): a closed caller still had an owner") {
                try SockDiagOwners().uid(of: ends)
            }
        }
    }

    @Test("the connection table closes the oldest connection without a whole request first")
    func connectionTable() throws {
        let t = ConnectionTable(maximum: 2)
        let a = EmbeddedChannel(), b = EmbeddedChannel(), c = EmbeddedChannel(), d = EmbeddedChannel()
        #expect(t.admit(a) == nil && t.admit(b) == nil)
        t.served(a)
        #expect(t.admit(c) === b)
        #expect(t.admit(d) === c)
        t.served(d)
        let e = EmbeddedChannel()
        #expect(t.admit(e) === a)
        #expect(t.count == 2)
    }
}

/// A loopback TCP connection made in this process: the client's fd, the accepted one's.
func connectedPair(_ host: String) throws -> (Int32, Int32) {
    let any = try SocketAddress(ipAddress: host, port: 0)
    let family = any.protocol.rawValue
    let listener = socket(family, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(listener) }
    try withSockaddr(any) { p, n in guard bind(listener, p, n) == 0, listen(listener, 1) == 0 else { throw ServeError("bind") } }
    let bound = try address(listener, peer: false)
    let client = socket(family, Int32(SOCK_STREAM.rawValue), 0)
    try withSockaddr(bound) { p, n in guard connect(client, p, n) == 0 else { throw ServeError("connect") } }
    return (client, accept(listener, nil, nil))
}

func withSockaddr(_ a: SocketAddress, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Void) throws {
    var storage = sockaddr_storage()
    let size = a.withSockAddr { p, n in
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: p, count: n)) }
        return n
    }
    try withUnsafePointer(to: &storage) {
        try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(size)) }
    }
}

func address(_ fd: Int32, peer: Bool) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var n = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd, $0, &n) : getsockname(fd, $0, &n) }
    }
    guard rc == 0 else { throw ServeError("getsockname") }
    switch Int32(storage.ss_family) {
    case AF_INET: return withUnsafeBytes(of: storage) { SocketAddress($0.load(as: sockaddr_in.self), host: "") }
    default: return withUnsafeBytes(of: storage) { SocketAddress($0.load(as: sockaddr_in6.self), host: "") }
    }
}
