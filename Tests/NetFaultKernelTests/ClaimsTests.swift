import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// Claims live in this process's network namespace's abstract unix socket space, which needs
/// no privilege: these run anywhere, on the real kernel.
@Suite struct ClaimsTests {
    func unique(_ what: String) -> String { "netfault-test/\(getpid())/\(what)/\(UInt32.random(in: 0...UInt32.max))" }

    @Test("a claim is exclusive, its holder is seen with its pid, and it ends with its socket")
    func lifecycle() throws {
        let name = unique("band")
        #expect(try Claims.holders([name], in: nil).isEmpty)
        var claims: [Claim]? = try Claims.take([name], in: nil)
        #expect(try Claims.holders([name], in: nil) == [name: getpid()])
        #expect(throws: ClaimTaken.self) { try Claims.take([name], in: nil) }
        claims?.forEach { $0.drain() }
        claims = nil
        #expect(try Claims.holders([name], in: nil).isEmpty)
        #expect(try Claims.take([name], in: nil).count == 1)
    }

    @Test("taking several names is all or nothing")
    func allOrNothing() throws {
        let held = unique("held"), other = unique("free")
        let first = try Claims.take([held], in: nil)
        try withExtendedLifetime(first) { () throws in
            #expect(throws: ClaimTaken.self) { try Claims.take([other, held], in: nil) }
            #expect(try Claims.holders([other, held], in: nil).keys.sorted() == [held])
        }
    }

    @Test("many holder checks never make a live claim look dead (its queue is drained or full)")
    func manyChecks() throws {
        let name = unique("busy")
        let claim = try Claims.take([name], in: nil)
        try withExtendedLifetime(claim) { () throws in
            for _ in 0..<300 { #expect(try Claims.holders([name], in: nil)[name] != nil) }
            claim.forEach { $0.drain() }
            #expect(try Claims.holders([name], in: nil)[name] == getpid())
        }
    }
}

/// Which marked objects are orphans, given what is alive: pure, from a listing.
@Suite struct OrphanTests {
    typealias Marked = TrafficControl.Marked

    func marked() -> Marked {
        var m = Marked()
        m.roots = [("lo", 1), ("nfifb2", 9)]
        m.bands = [("lo", 1, 2), ("lo", 1, 3), ("nfifb2", 9, 2)]
        m.ingresses = [("eth0", 2)]
        m.redirects = [("eth0", 2, 2)]
        m.ifbs = [("nfifb2", 9)]
        m.probeDevices = [("nfprobe77a", 12)]
        return m
    }

    @Test("with nothing alive, whole roots, ingresses and devices go")
    func nothingAlive() {
        #expect(
            marked().orphans(live: Liveness()) == [
                .root(device: "lo", ifindex: 1), .ingress(device: "eth0", ifindex: 2),
                .ifb(name: "nfifb2", ifindex: 9), .probeDevice(name: "nfprobe77a", ifindex: 12)
            ])
    }

    @Test("a live band keeps its device's root; only the dead band goes")
    func oneBandAlive() {
        let live = Liveness(bands: [.init("lo", 3), .init("nfifb2", 2)], probeDevices: ["nfprobe77a"])
        #expect(marked().orphans(live: live) == [.band(device: "lo", ifindex: 1, band: 2)])
    }

    @Test("a live ifb band keeps the redirect that feeds it; a dead one's redirect goes")
    func redirects() {
        var m = marked()
        m.redirects.append(("eth0", 2, 4))
        let live = Liveness(bands: [.init("lo", 2), .init("lo", 3), .init("nfifb2", 2)], probeDevices: ["nfprobe77a"])
        #expect(m.orphans(live: live) == [.redirect(device: "eth0", ifindex: 2, band: 4)])
    }

    @Test("the claim names cover every band of every marked device")
    func claimNames() {
        let names = marked().claimNames
        #expect(names.contains(Claims.band(device: "lo", band: 16)))
        #expect(names.contains(Claims.band(device: "nfifb2", band: 2)))
        #expect(names.contains(Claims.probe(device: "nfprobe77a")))
        #expect(names.count == 2 * Ownership.leaseBands.count + 1)
    }
}

@Suite struct ProbeCacheTests {
    func directory() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("netfault-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    func ok(_ f: KernelFeature) -> FeatureResult { FeatureResult(f, ok: true, detail: "works", remedy: nil) }
    func missing(_ f: KernelFeature) -> FeatureResult {
        FeatureResult(f, ok: false, detail: "absent", remedy: "load it")
    }

    @Test("successes are probed once per boot; failures are probed again")
    func probesOnce() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var calls: [Set<KernelFeature>] = []
        let probe = { (only: Set<KernelFeature>) -> [FeatureResult] in
            calls.append(only)
            return only.sorted { $0.rawValue < $1.rawValue }.map { $0 == .netem ? self.missing($0) : self.ok($0) }
        }
        let first = ProbeCache.results(for: [.netem, .u32], in: dir, probe: probe)
        #expect(first.map(\.ok) == [false, true])
        let second = ProbeCache.results(for: [.netem, .u32], in: dir, probe: probe)
        #expect(second.map(\.ok) == [false, true])
        #expect(calls == [[.netem, .u32], [.netem]])
        _ = ProbeCache.results(for: [.u32], in: dir, probe: probe)
        #expect(calls.count == 2, "a cached success needs no probe")
    }

    /// The cache file keeps the doctor names, as before the features were typed: a cache written
    /// by an older netfault on this boot is still read.
    @Test func cacheFileKeepsTheNames() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = ProbeCache.Key(bootID: "b1", kernel: "6.1")
        let json = #"{"key":{"bootID":"b1","kernel":"6.1"},"working":["nf_tables owner tables","ifb+mirred"]}"#
        try Data(json.utf8).write(to: dir.appendingPathComponent(ProbeCache.fileName))
        #expect(ProbeCache.load(from: dir, key: key).working == [.nfTablesOwnerTables, .ifbMirred])
    }

    /// Every feature has its own remedy (the names used to fall through to "see netfault doctor").
    @Test func everyFeatureHasARemedy() {
        let remedies = KernelFeature.allCases.map(\.remedy)
        #expect(Set(remedies).count == KernelFeature.allCases.count)
        #expect(!remedies.contains("see netfault doctor"))
        #expect(KernelFeature.netemFaults.map(\.rawValue) == ["netem", "prio", "u32", "unix_diag"])
    }

    @Test("a cache from another boot or kernel is ignored")
    func otherBoot() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = ProbeCache.Key(bootID: "b1", kernel: "6.1")
        ProbeCache(key: key, working: [.u32]).save(to: dir)
        #expect(ProbeCache.load(from: dir, key: key).working == [.u32])
        #expect(ProbeCache.load(from: dir, key: .init(bootID: "b2", kernel: "6.1")).working.isEmpty)
        #expect(ProbeCache.load(from: dir, key: .init(bootID: "b1", kernel: "6.2")).working.isEmpty)
    }
}

@Suite struct ListenersTests {
    @Test("listening ports from /proc/net/tcp text (kernels without inet_diag); other states are not listeners")
    func parse() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1 1 0 100
               1: 00000000:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100
               2: 0100007F:D2F0 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20
            """
        #expect(Listeners.parse(table) == [6379, 3306])
    }

    @Test("the sock_diag request asks for TCP sockets of one family in LISTEN only, any address")
    func request() {
        let r = Listeners.request(family: UInt8(AF_INET6))
        #expect(r.type == 20 && r.flags == 0x301)  // SOCK_DIAG_BY_FAMILY; NLM_F_REQUEST | NLM_F_DUMP
        // struct inet_diag_req_v2: family, protocol, ext, pad, states (host order), 48-byte sockid.
        #expect(r.payload.count == 56)
        #expect(Array(r.payload[0..<8]) == [10, 6, 0, 0, 0x00, 0x04, 0, 0])
        #expect(r.payload[8...].allSatisfy { $0 == 0 })
    }

    @Test("a reply's local port is read big-endian from the sockid; a socket not in LISTEN is not a listener")
    func reply() {
        var payload = [UInt8](repeating: 0, count: 72)  // struct inet_diag_msg
        payload[0] = 2; payload[1] = 10; payload[4] = 0x18; payload[5] = 0xeb
        #expect(Listeners.port(NetlinkMessage(type: 20, flags: 0, seq: 1, payload: payload)) == 6379)
        payload[1] = 1  // TCP_ESTABLISHED
        #expect(Listeners.port(NetlinkMessage(type: 20, flags: 0, seq: 1, payload: payload)) == nil)
        #expect(Listeners.port(NetlinkMessage(type: 20, flags: 0, seq: 1, payload: Array(payload[0..<40]))) == nil)
    }

    @Test("a socket listening here is found, in this process's own namespace; a connected one is not")
    func live() throws {
        let (fd, client, addr) = try loopbackConnection()
        defer { close(fd); close(client) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        var local = sockaddr_in()
        try #require(
            withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client, $0, &len) }
            } == 0)
        let ports = try Listeners.tcpPorts(in: nil)
        #expect(ports.contains(UInt16(bigEndian: addr.sin_port)))
        #expect(!ports.contains(UInt16(bigEndian: local.sin_port)), "the client's own port is not listening")
        let proc = try Listeners.fromProc(in: nil)
        #expect(proc.contains(UInt16(bigEndian: addr.sin_port)) && !proc.contains(UInt16(bigEndian: local.sin_port)))
    }

    @Test("/proc/net/tcp is read to its end: 40 listeners, each found, where one read(2) holds about 26")
    func procPastOnePage() throws {
        let held = try (0..<40).map { _ in try loopbackConnection() }
        defer { for c in held { close(c.server); close(c.client) } }
        let ports = Set(held.map { UInt16(bigEndian: $0.address.sin_port) })
        #expect(ports.subtracting(try Listeners.fromProc(in: nil)).isEmpty)
        let table = try #require(ProcFile.text("/proc/net/tcp"))
        #expect(table.split(separator: "\n").count > 80, "40 listeners and 40 connections' two ends")
    }
}

@Suite struct TCPSocketsTests {
    @Test("the sock_diag request asks for TCP sockets of one family in every state but LISTEN")
    func request() {
        let r = TCPSockets.request(family: UInt8(AF_INET))
        #expect(r.type == 20 && r.flags == 0x301)
        #expect(r.payload.count == 56)
        // States 1 (ESTABLISHED) to 11 (CLOSING), less 10 (LISTEN): 0xFFE & ~0x400.
        #expect(Array(r.payload[0..<8]) == [2, 6, 0, 0, 0xFE, 0x0B, 0, 0])
    }

    @Test("a reply gives the state, both ports (big-endian) and the inode (host order)")
    func reply() {
        var payload = [UInt8](repeating: 0, count: 72)
        payload[0] = 2; payload[1] = 2  // AF_INET, TCP_SYN_SENT
        payload[4] = 0xd2; payload[5] = 0xf0; payload[6] = 0x18; payload[7] = 0xeb
        payload[68] = 0x39; payload[69] = 0x30  // inode 12345
        let s = TCPSockets.parse(NetlinkMessage(type: 20, flags: 0, seq: 1, payload: payload))
        #expect(s == TCPSocket(state: 2, localPort: 0xd2f0, remotePort: 6379, inode: 12345))
        #expect(s?.isConnecting == true)
        #expect(TCPSockets.parse(NetlinkMessage(type: 20, flags: 0, seq: 1, payload: Array(payload[0..<60]))) == nil)
    }

    @Test("a connection this process holds is found, with the inode its descriptor links to")
    func live() throws {
        let (server, client, addr) = try loopbackConnection()
        defer { close(server); close(client) }
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(client)")
        let inode = try #require(UInt32(link.dropFirst("socket:[".count).dropLast()))
        let port = UInt16(bigEndian: addr.sin_port)
        let mine = try TCPSockets().dump().filter { $0.inode == inode }
        #expect(mine == [TCPSocket(state: 1, localPort: mine.first?.localPort ?? 0, remotePort: port, inode: inode)])
        #expect(try TCPSockets().dump().allSatisfy { $0.state != 10 }, "no listener is listed")
    }
}

/// A listener on 127.0.0.1 (any port) and a client connected to it, and the listener's address.
func loopbackConnection() throws -> (server: Int32, client: Int32, address: sockaddr_in) {
    let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    try #require(
        withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, len) } }
            == 0)
    try #require(listen(server, 1) == 0)
    try #require(
        withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(server, $0, &len) }
        } == 0)
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(
        withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, len) } }
            == 0)
    return (server, client, addr)
}
