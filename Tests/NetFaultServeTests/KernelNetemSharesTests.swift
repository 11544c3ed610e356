import NetFaultCore
import Testing
@testable import NetFaultServe

/// Toxicity on a latency or bandwidth toxic: netem on a share of new connections (--connections),
/// one draw per stream's lease, and the one direction the kernel cannot draw.
@Suite struct KernelNetemSharesTests {
    func toxic(_ kind: ToxicKind, _ stream: ToxicStream = .upstream, name: String, toxicity: Double = 1) -> Toxic {
        Toxic(name: name, stream: stream, toxicity: toxicity, kind)
    }
    let slow = ToxicKind.latency(LatencyToxic(latency: .milliseconds(200)))
    let reset = ToxicKind.resetPeer(ResetPeerToxic(timeout: .zero))
    func refusal(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as ServeFailure {
            let api = ApiError(e)
            return api.status == 400 ? api.error : "status \(api.status)"
        } catch { return "\(error)" }
        return nil
    }

    @Test("latency 200 ms at toxicity 0.3 becomes a lease delaying 30% of new connections, no connection fault")
    func latencyShareIsTheLeaseRequest() throws {
        let t = toxic(slow, name: "slow", toxicity: 0.3)
        try KernelMapping.check(t)
        let f = KernelMapping.faults(enabled: true, toxics: [t])
        let up = try #require(f[.toServer])
        #expect(f.count == 1)
        #expect(up.netem.delay == .milliseconds(200))
        #expect(up.filter == FilterSpec(connections: .percent(Percent(30))), "\(up.filter)")
        try up.filter.validate(direction: .toServer, netem: up.netem)
        try KernelMapping.checkShares(f, loopback: false)
        let rate = KernelMapping.faults(
            enabled: true, toxics: [toxic(.bandwidth(.init(rate: 100)), name: "b", toxicity: 0.5)])
        #expect(rate[.toServer]?.netem.rate == Rate(bitsPerSecond: 800_000))
        #expect(rate[.toServer]?.filter.connections == .percent(Percent(50)))
    }

    @Test("a downstream share on a remote upstream is a 400 saying why and what works; on loopback it is drawn")
    func remoteResponsesCannotBeDrawn() throws {
        let f = KernelMapping.faults(enabled: true, toxics: [toxic(slow, .downstream, name: "slow", toxicity: 0.3)])
        #expect(f[.fromServer]?.filter.connections == .percent(Percent(30)))
        try KernelMapping.checkShares(f, loopback: true)
        let message = try #require(refusal { try KernelMapping.checkShares(f, loopback: false) })
        #expect(message.contains("toxic 'slow'") && message.contains("on ifb"), "\(message)")
        #expect(message.contains("upstream toxics") && message.contains("loopback upstream"), "\(message)")
        // At toxicity 1 nothing is drawn: every response is shaped, as before.
        let all = KernelMapping.faults(enabled: true, toxics: [toxic(slow, .downstream, name: "slow")])
        #expect(refusal { try KernelMapping.checkShares(all, loopback: false) } == nil)
    }

    @Test("a partial latency and a partial reset on one stream: one draw, the union of their shares")
    func oneDrawPerStream() throws {
        let f = KernelMapping.faults(enabled: true, toxics: [
            toxic(slow, name: "slow", toxicity: 0.3), toxic(reset, .downstream, name: "r", toxicity: 0.3),
        ])
        let up = try #require(f[.toServer])
        #expect(up.filter.action == .reset && up.netem.delay == .milliseconds(200))
        #expect(up.filter.connections == .percent(Percent(51)), "\(up.filter)")
        try KernelMapping.checkShares(f, loopback: false)
        let notes = KernelMapping.notes(for: toxic(slow, name: "slow", toxicity: 0.3))
        #expect(notes.contains { $0.contains("one draw per stream") && $0.contains("Toxiproxy draws each") })
    }

    @Test("what one draw cannot hold is refused by name; a disabled proxy outranks a drawn delay")
    func whatOneDrawCannotHold() throws {
        let mixed = KernelMapping.faults(enabled: true, toxics: [
            toxic(slow, name: "all"), toxic(slow, name: "some", toxicity: 0.3),
        ])
        let m = try #require(refusal { try KernelMapping.checkShares(mixed) })
        #expect(m.contains("toxic 'some'") && m.contains("'all'") && m.contains("--backend proxy"), "\(m)")
        let hang = ToxicKind.timeout(TimeoutToxic(timeout: .zero))
        let mix = KernelMapping.faults(enabled: true, toxics: [
            toxic(slow, name: "slow", toxicity: 0.3), toxic(reset, name: "r", toxicity: 0.5), toxic(hang, name: "h"),
        ])
        #expect(refusal { try KernelMapping.checkShares(mix) }?.contains("toxic 'slow'") == true)
        let off = KernelMapping.faults(enabled: false, toxics: [toxic(slow, name: "slow", toxicity: 0.3)])
        #expect(off[.toServer]?.netem.isEmpty == true && off[.toServer]?.filter.action == .reset)
        #expect(off[.toServer]?.filter.connections == nil)
        #expect(refusal { try KernelMapping.checkShares(off) } == nil)
    }
}
