import NetFaultCore
import Testing
@testable import NetFaultServe

/// Toxiproxy's toxicity mapped onto --connections: which share, and what one lease cannot hold.
@Suite struct KernelSharesTests {
    func toxic(_ kind: ToxicKind, _ stream: ToxicStream = .downstream, name: String, toxicity: Double = 1) -> Toxic {
        Toxic(name: name, stream: stream, toxicity: toxicity, kind)
    }
    let hang = ToxicKind.timeout(TimeoutToxic(timeout: .zero))
    let reset = ToxicKind.resetPeer(ResetPeerToxic(timeout: .zero))

    @Test("a connection toxic below toxicity 1 takes that share of new connections")
    func toxicityIsTheConnectionShare() throws {
        let f = KernelMapping.faults(enabled: true, toxics: [toxic(hang, name: "h", toxicity: 0.3)])
        #expect(f[.fromServer]?.filter.action == .hang)
        #expect(f[.fromServer]?.filter.connections == .percent(Percent(30)))
        try KernelMapping.checkShares(f)
        #expect(throws: Never.self) { try KernelMapping.check(toxic(hang, name: "h", toxicity: 0.3)) }
        let r = KernelMapping.faults(enabled: true, toxics: [toxic(reset, name: "r", toxicity: 0.001)])
        #expect(r[.toServer]?.filter.connections == .percent(Percent(0.1)))
        // Toxicity 1: every connection, no draw.
        let all = KernelMapping.faults(enabled: true, toxics: [toxic(hang, name: "h")])
        #expect(all[.fromServer]?.filter.connections == nil)
    }

    @Test("two toxics of one fault draw on their own: a connection meets it when either drew it")
    func independentDrawsCombine() throws {
        let f = KernelMapping.faults(enabled: true, toxics: [
            toxic(hang, name: "a", toxicity: 0.5), toxic(.bandwidth(.init(rate: 0)), name: "b", toxicity: 0.5),
        ])
        #expect(f[.fromServer]?.filter.connections == .percent(Percent(75)))
        let full = KernelMapping.faults(enabled: true, toxics: [
            toxic(hang, name: "a", toxicity: 0.5), toxic(hang, name: "b"),
        ])
        #expect(full[.fromServer]?.filter.connections == nil)
    }

    @Test("a disabled proxy resets every connection, whatever a reset_peer toxic drew")
    func disabledOutranksTheDraw() throws {
        let f = KernelMapping.faults(enabled: false, toxics: [toxic(reset, name: "r", toxicity: 0.3)])
        #expect(f[.toServer]?.filter.action == .reset && f[.toServer]?.filter.connections == nil)
        try KernelMapping.checkShares(f)
    }

    @Test("a drawn reset beside a hang is a mix: the reset's share, then the hang's share of the rest")
    func resetBesideHangIsAMix() throws {
        let f = KernelMapping.faults(enabled: true, toxics: [
            toxic(reset, name: "r", toxicity: 0.3), toxic(hang, .upstream, name: "h"),
        ])
        #expect(f[.toServer]?.filter.mix?.description == "30%:reset,70%:hang", "\(f)")
        #expect(f[.toServer]?.filter.action == nil && f[.toServer]?.filter.connections == nil)
        try KernelMapping.checkShares(f)
        let both = KernelMapping.faults(enabled: true, toxics: [
            toxic(reset, name: "r", toxicity: 0.5), toxic(hang, .upstream, name: "h", toxicity: 0.5),
        ])
        #expect(both[.toServer]?.filter.mix?.description == "50%:reset,25%:hang", "\(both)")
        // A reset for every connection leaves no hang to draw.
        let all = KernelMapping.faults(enabled: true, toxics: [
            toxic(reset, name: "r"), toxic(hang, .upstream, name: "h", toxicity: 0.5),
        ])
        #expect(all[.toServer]?.filter.mix == nil && all[.toServer]?.filter.action == .reset)
    }

    @Test("a share beside netem on the same stream is refused by name")
    func whatOneLeaseCannotHold() {
        let latency = ToxicKind.latency(LatencyToxic(latency: .milliseconds(100)))
        for toxics in [
            [toxic(hang, name: "drawn", toxicity: 0.3), toxic(latency, name: "slow")],
        ] {
            let f = KernelMapping.faults(enabled: true, toxics: toxics)
            #expect {
                try KernelMapping.checkShares(f)
            } throws: { e in
                let e = ApiError(e as! ServeFailure)
                return e.status == 400 && e.error.contains("toxic 'drawn'") && e.error.contains("--backend proxy")
            }
        }
        // On the other stream the latency is a lease of its own.
        let apart = KernelMapping.faults(enabled: true, toxics: [
            toxic(hang, .upstream, name: "drawn", toxicity: 0.3), toxic(latency, name: "slow"),
        ])
        #expect(throws: Never.self) { try KernelMapping.checkShares(apart) }
    }

    @Test("the toxic's JSON says how the kernel draws")
    func notesSayHowItDraws() {
        let notes = KernelMapping.notes(for: toxic(hang, name: "h", toxicity: 0.3))
        #expect(notes.contains { $0.contains("toxicity 0.3") && $0.contains("at its SYN") })
        #expect(!KernelMapping.notes(for: toxic(hang, name: "h")).contains { $0.contains("toxicity") })
    }
}
