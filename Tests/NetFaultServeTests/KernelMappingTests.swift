import NetFaultCore
import Testing
@testable import NetFaultServe

@Suite struct KernelMappingTests {
    func toxic(_ type: ToxicType, _ stream: ToxicStream = .downstream, name: String? = nil, toxicity: Double = 1,
               _ attributes: [String: Int64] = [:]) -> Toxic {
        Toxic(name: name ?? "\(type.rawValue)_\(stream.rawValue)", type: type, stream: stream, toxicity: toxicity,
              attributes: attributes)
    }
    func toxic(_ type: ToxicType, _ attributes: [String: Int64]) -> Toxic { toxic(type, .downstream, attributes) }

    @Test func latencyIsNetemDelayOnItsStream() {
        let f = KernelMapping.faults(enabled: true, toxics: [
            toxic(.latency, .downstream, ["latency": 100, "jitter": 10]),
            toxic(.latency, .upstream, ["latency": 20]),
        ])
        #expect(f[.fromServer]?.netem.delay == .milliseconds(100))
        #expect(f[.fromServer]?.netem.jitter == .milliseconds(10))
        #expect(f[.toServer]?.netem.delay == .milliseconds(20))
        #expect(f[.toServer]?.netem.jitter == nil)
    }

    @Test func chainedToxicsAddUpAndTheNarrowerRateHolds() {
        let f = KernelMapping.faults(enabled: true, toxics: [
            toxic(.latency, name: "a", ["latency": 10]), toxic(.latency, name: "b", ["latency": 5]),
            toxic(.bandwidth, name: "c", ["rate": 100]), toxic(.bandwidth, name: "d", ["rate": 50]),
        ])
        #expect(f[.fromServer]?.netem.delay == .milliseconds(15))
        #expect(f[.fromServer]?.netem.rate == Rate(bitsPerSecond: 400_000))
    }

    @Test func connectionToxics() {
        #expect(KernelMapping.faults(enabled: true, toxics: [toxic(.timeout)])[.fromServer]?.filter.action == .hang)
        #expect(KernelMapping.faults(enabled: true, toxics: [toxic(.timeout, .upstream)])[.toServer]?.filter.action == .hang)
        // A timed hang: nothing changes until it runs out, then a reset.
        let timed = toxic(.timeout, ["timeout": 500])
        #expect(KernelMapping.faults(enabled: true, toxics: [timed])[.fromServer]?.filter.action == .hang)
        let out = KernelMapping.faults(enabled: true, toxics: [timed], expired: [timed.name])
        #expect(out[.toServer]?.filter.action == .reset && out[.fromServer] == nil)
        #expect(KernelMapping.faults(enabled: true, toxics: [toxic(.reset_peer)])[.toServer]?.filter.action == .reset)
        #expect(KernelMapping.faults(enabled: true, toxics: [toxic(.reset_peer, ["timeout": 100])]).isEmpty)
        // Disabled: resets, outranking a hang on the same direction.
        let off = KernelMapping.faults(enabled: false, toxics: [toxic(.timeout, .upstream)])
        #expect(off[.toServer]?.filter.action == .reset)
    }

    @Test func nothingForLatencyZeroAndToxicityZero() {
        #expect(KernelMapping.faults(enabled: true, toxics: [
            toxic(.latency), toxic(.timeout, name: "t", toxicity: 0),
        ]).isEmpty)
    }

    @Test func rateZeroPassesNoData() {
        // Toxiproxy's bandwidth at rate 0 never sends: the closest kernel fault is a hang.
        #expect(KernelMapping.faults(enabled: true, toxics: [toxic(.bandwidth, .upstream)])[.toServer]?.filter.action == .hang)
    }

    @Test func whatTheKernelCannotDoIsRefusedByName() {
        for t in [toxic(.slicer), toxic(.slow_close), toxic(.limit_data),
                  toxic(.latency, ["jitter": 5]), toxic(.latency, ["latency": 61_000]),
                  toxic(.timeout, toxicity: 0.5)] {
            #expect {
                try KernelMapping.check(t)
            } throws: { e in
                let e = e as! ApiError
                return e.status == 400 && e.error.contains(t.name) && e.error.contains("--backend proxy")
            }
        }
        #expect(throws: Never.self) { try KernelMapping.check(toxic(.latency, ["latency": 100, "jitter": 5])) }
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
}
