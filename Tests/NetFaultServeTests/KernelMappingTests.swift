import NetFaultCore
import Testing
@testable import NetFaultServe

@Suite struct KernelMappingTests {
    func toxic(_ kind: ToxicKind, _ stream: ToxicStream = .downstream, name: String? = nil, toxicity: Double = 1)
        -> Toxic
    {
        Toxic(name: name ?? "\(kind.type.rawValue)_\(stream.rawValue)", stream: stream, toxicity: toxicity, kind)
    }
    func latency(_ ms: Int64, jitter: Int64 = 0) -> ToxicKind {
        .latency(LatencyToxic(latency: .milliseconds(ms), jitter: .milliseconds(jitter)))
    }
    func timeout(_ ms: Int64 = 0) -> ToxicKind { .timeout(TimeoutToxic(timeout: .milliseconds(ms))) }
    func resetPeer(_ ms: Int64 = 0) -> ToxicKind { .resetPeer(ResetPeerToxic(timeout: .milliseconds(ms))) }

    @Test func latencyIsNetemDelayOnItsStream() {
        let f = KernelMapping.faults(enabled: true, toxics: [
            toxic(latency(100, jitter: 10), .downstream),
            toxic(latency(20), .upstream),
        ])
        #expect(f[.fromServer]?.netem.delay == .milliseconds(100))
        #expect(f[.fromServer]?.netem.jitter == .milliseconds(10))
        #expect(f[.toServer]?.netem.delay == .milliseconds(20))
        #expect(f[.toServer]?.netem.jitter == nil)
    }

    @Test func chainedToxicsAddUpAndTheNarrowerRateHolds() {
        let f = KernelMapping.faults(enabled: true, toxics: [
            toxic(latency(10), name: "a"), toxic(latency(5), name: "b"),
            toxic(.bandwidth(.init(rate: 100)), name: "c"), toxic(.bandwidth(.init(rate: 50)), name: "d"),
        ])
        #expect(f[.fromServer]?.netem.delay == .milliseconds(15))
        #expect(f[.fromServer]?.netem.rate == Rate(bitsPerSecond: 400_000))
    }

    @Test func connectionToxics() {
        #expect(KernelMapping.faults(enabled: true, toxics: [toxic(timeout())])[.fromServer]?.filter.action == .hang)
        let up = KernelMapping.faults(enabled: true, toxics: [toxic(timeout(), .upstream)])
        #expect(up[.toServer]?.filter.action == .hang)
        #expect(KernelMapping.faults(enabled: true, toxics: [toxic(resetPeer())])[.toServer]?.filter.action == .reset)
        // Disabled: resets, outranking a hang on the same direction.
        let off = KernelMapping.faults(enabled: false, toxics: [toxic(timeout(), .upstream)])
        #expect(off[.toServer]?.filter.action == .reset)
    }

    /// A time on timeout and reset_peer runs per connection from its SYN (--reset-after), on the
    /// client's packets: from the start, not from when the toxic was added.
    @Test("timed timeout: a hang now and a reset per connection; timed reset_peer: a reset per connection")
    func timedToxicsArePerConnection() throws {
        let timer = { (ms: Int64) in FilterSpec(life: ConnectionLife(resetAfter: .milliseconds(ms))) }
        // On either stream the requests hang beside the timer, in one lease, which the core plans
        // with the resets first: a hang of the responses would drop the resets sent to the client.
        for stream in [ToxicStream.downstream, .upstream] {
            let f = KernelMapping.faults(enabled: true, toxics: [toxic(timeout(500), stream)])
            let up = try #require(f[.toServer])
            #expect(up.filter == FilterSpec(action: .hang, life: ConnectionLife(resetAfter: .milliseconds(500))))
            #expect(f[.fromServer] == nil)
            try up.filter.validate(direction: .toServer, netem: up.netem)
        }
        // Two times: the shorter holds; on either stream the client's packets are reset.
        let two = KernelMapping.faults(enabled: true, toxics: [
            toxic(resetPeer(300), name: "a"), toxic(resetPeer(100), .upstream, name: "b"),
        ])
        #expect(two[.toServer]?.filter == timer(100) && two[.fromServer] == nil)
        // A reset outranks the timer; a disabled proxy too.
        let now = KernelMapping.faults(enabled: true, toxics: [toxic(resetPeer(100), name: "a"), toxic(resetPeer())])
        #expect(now[.toServer]?.filter == FilterSpec(action: .reset))
        let off = KernelMapping.faults(enabled: false, toxics: [toxic(timeout(500), .upstream)])
        #expect(off[.toServer]?.filter == FilterSpec(action: .reset))
        // The kernel cannot draw a share for a time it keeps for every connection.
        for t in [toxic(timeout(500), toxicity: 0.5), toxic(resetPeer(500), toxicity: 0.5)] {
            #expect(throws: ServeFailure.self) { try KernelMapping.check(t) }
        }
        #expect(throws: Never.self) { try KernelMapping.check(toxic(resetPeer(), toxicity: 0.5)) }
        #expect(KernelMapping.notes(for: toxic(resetPeer(500))).first?.contains("after its SYN") == true)
        #expect(KernelMapping.notes(for: toxic(timeout(500))).first?.contains("TCP's resends") == true)
    }

    @Test func nothingForLatencyZeroAndToxicityZero() {
        #expect(KernelMapping.faults(enabled: true, toxics: [
            toxic(latency(0)), toxic(timeout(), name: "t", toxicity: 0),
        ]).isEmpty)
    }

    /// limit_data downstream is a byte budget per connection on what the server sends; the
    /// smaller of two holds, 0 closes at the first packet, a connection fault outranks it.
    @Test func limitDataIsABudgetOnTheServersBytes() throws {
        let limit = { (bytes: Int64, name: String) in self.toxic(.limitData(.init(bytes: bytes)), name: name) }
        #expect(throws: Never.self) { try KernelMapping.check(limit(4096, "l")) }
        let f = KernelMapping.faults(enabled: true, toxics: [limit(4096, "a"), limit(1000, "b")])
        #expect(f[.fromServer]?.filter.life == ConnectionLife(limitData: 1000))
        #expect(f[.toServer] == nil)
        #expect(KernelMapping.faults(enabled: true, toxics: [limit(0, "z")])[.fromServer]?.filter.life?.limitData == 1)
        let hung = KernelMapping.faults(enabled: true, toxics: [limit(10, "a"), toxic(timeout())])
        #expect(hung[.fromServer]?.filter.action == .hang && hung[.fromServer]?.filter.life == nil)
        #expect(KernelMapping.notes(for: limit(10, "a")).first?.contains("headers") == true)
    }

    /// slow_close holds back the FINs of its stream (--slow-close), slicer cuts the server's
    /// segments at the SYN's MSS (--slice, 64 to 1400), latency spares the handshake.
    @Test func slowCloseSlicerAndASparedHandshake() throws {
        let f = KernelMapping.faults(enabled: true, toxics: [
            toxic(.slowClose(.init(delay: .milliseconds(700)))), toxic(.slicer(.init(averageSize: 10))),
            toxic(latency(100), .upstream),
        ])
        #expect(f[.fromServer]?.netem.slowClose == .milliseconds(700))
        #expect(f[.fromServer]?.filter.life == ConnectionLife(slice: 64))
        #expect(f[.toServer]?.netem.delay == .milliseconds(100) && f[.toServer]?.netem.sparesHandshake == true)
        #expect(throws: Never.self) { try KernelMapping.check(toxic(.slowClose(.init(delay: .seconds(60))))) }
        #expect(throws: Never.self) { try KernelMapping.check(toxic(.slicer(.init(averageSize: 5000)))) }
        let big = KernelMapping.faults(enabled: true, toxics: [toxic(.slicer(.init(averageSize: 5000)))])
        #expect(big[.fromServer]?.filter.life?.slice == 1400)
        #expect(KernelMapping.notes(for: toxic(.slicer(.init(averageSize: 10)))).first?.contains("64 bytes") == true)
        #expect(KernelMapping.faults(enabled: true, toxics: [toxic(.slowClose(.init()))]).isEmpty)
    }

    @Test func rateZeroPassesNoData() {
        // Toxiproxy's bandwidth at rate 0 never sends: the closest kernel fault is a hang.
        let f = KernelMapping.faults(enabled: true, toxics: [toxic(.bandwidth(.init(rate: 0)), .upstream)])
        #expect(f[.toServer]?.filter.action == .hang)
    }

    @Test func whatTheKernelCannotDoIsRefusedByName() {
        for t in [toxic(.slicer(.init()), .upstream), toxic(.slowClose(.init(delay: .seconds(61)))),
                  toxic(.limitData(.init()), .upstream),
                  toxic(.limitData(.init(bytes: 1 << 41))),
                  toxic(latency(0, jitter: 5)), toxic(latency(61_000)), toxic(latency(100, jitter: 61_000))] {
            #expect {
                try KernelMapping.check(t)
            } throws: { e in
                let e = ApiError(e as! ServeFailure)
                return e.status == 400 && e.error.contains(t.name) && e.error.contains("--backend proxy")
            }
        }
        #expect(throws: Never.self) { try KernelMapping.check(toxic(latency(100, jitter: 5))) }
        #expect(throws: Never.self) { try KernelMapping.check(toxic(latency(60_000, jitter: 60_000))) }
    }

    @Test("the kernel's delay bound is netem's: a latency just above it is refused with netem's figure")
    func kernelDelayBoundIsNetems() {
        let most = NetemSpec.maximumDelay
        let over = toxic(.latency(LatencyToxic(latency: Duration(nanoseconds: most.nanoseconds + 1_000_000))))
        #expect(throws: ServeFailure.self) { try KernelMapping.check(over) }
        do { try KernelMapping.check(over) } catch {
            #expect(error.description.contains("up to \(most.nanoseconds / 1_000_000) ms"), "\(error)")
        }
    }
}

@Suite struct UpstreamAddressTests {
    func address(_ host: String) throws -> [UInt8]? {
        try KernelBackend.address(HostPort(host: host, port: 6379))?.bytes
    }

    @Test func loopbackNamesNoHostSoEveryLoopbackAddressIsCaught() throws {
        for host in ["localhost", "127.0.0.1", "127.0.0.53", "::1", ""] { #expect(try address(host) == nil, "\(host)") }
    }

    @Test func otherAddressesNarrowTheLease() throws {
        #expect(try address("10.1.2.3") == [10, 1, 2, 3])
        #expect(try address("2001:db8::1")?.count == 16)
    }

    /// A loopback upstream is a local server even before it listens, so a toxic needs no dump of
    /// the listening sockets; a named address leaves that to the planner, as the CLI does.
    @Test func aLoopbackUpstreamIsALocalServer() throws {
        let hang = Toxic(name: "t", stream: .downstream, toxicity: 1, .timeout(TimeoutToxic(timeout: .zero)))
        let faults = try #require(KernelMapping.faults(enabled: true, toxics: [hang])[.fromServer])
        for host in ["127.0.0.1", "localhost", "::1", ""] {
            let r = KernelBackend.request(
                faults, direction: .fromServer, port: 6379,
                host: try KernelBackend.address(HostPort(host: host, port: 6379)), duration: .seconds(10))
            #expect(r.server == ServerLocation.local, "\(host)")
            #expect(r.target.host == nil && r.target.ports == [6379])
        }
        let remote = KernelBackend.request(
            faults, direction: .fromServer, port: 6379,
            host: try KernelBackend.address(HostPort(host: "10.1.2.3", port: 6379)), duration: .seconds(10))
        #expect(remote.server == nil)
        #expect(remote.target.host?.bytes == [10, 1, 2, 3])
    }
}
