import FoundationEssentials
import NetFaultCore

/// What the kernel backend installs for one proxy, decided from its toxics alone: at most one
/// lease per direction, each netem faults plus one connection fault. Pure, so every mapping is
/// testable without a kernel.
public enum KernelMapping {
    /// The faults of one direction's lease.
    public struct Faults: Hashable, Sendable {
        public var netem = NetemSpec()
        public var filter = FilterSpec()
        public var isEmpty: Bool { netem.isEmpty && filter.isEmpty }
        /// The connection toxics behind `filter`, each with its toxicity: its share of connections.
        var lots: [Lot] = []
    }

    /// Toxiproxy's upstream stream carries requests (to the server); downstream, responses.
    public static func direction(_ stream: ToxicStream) -> Direction { stream == .upstream ? .toServer : .fromServer }

    /// Refuses a toxic the kernel cannot express, naming it and the backend that can.
    public static func check(_ toxic: Toxic) throws(ServeFailure) {
        func refuse(_ why: String) -> ServeFailure { .cannotExpress(toxic: toxic.name, type: toxic.type, why: why) }
        let most = NetemSpec.maximumDelay
        if timer(toxic.kind) != nil && toxic.toxicity < 1 {
            throw refuse("the kernel keeps a time per connection for every connection of the upstream; give toxicity 1")
        }
        switch toxic.kind {
        case .slowClose(let c) where c.delay > most:
            throw refuse("netem holds a FIN up to \(most.nanoseconds / 1_000_000) ms")
        case .slicer where toxic.stream == .upstream:
            throw refuse("the kernel sets the MSS of the SYN to the server, so it slices only what the server sends")
        case .limitData where toxic.stream == .upstream:
            throw refuse("the kernel keeps a byte budget per connection only for what the server sends (downstream)")
        case .limitData(let l) where l.bytes > Int64(ConnectionLife.largestBudget):
            throw refuse("the kernel's byte budget goes up to \(ConnectionLife.largestBudget) bytes (1 TiB)")
        case .latency(let l) where l.latency == .zero && l.jitter > .zero:
            throw refuse("netem varies a delay; jitter needs a latency above 0")
        case .latency(let l) where l.latency > most || l.jitter > most:
            throw refuse("netem takes delays up to \(most.nanoseconds / 1_000_000) ms")
        default: break
        }
    }

    /// The time of a timeout or reset_peer toxic, when it has one.
    static func timer(_ kind: ToxicKind) -> Duration? {
        switch kind {
        case .timeout(let t) where t.timeout > .zero: t.timeout
        case .resetPeer(let r) where r.timeout > .zero: r.timeout
        default: nil
        }
    }

    /// The leases a proxy needs.
    public static func faults(enabled: Bool, toxics: [Toxic]) -> [Direction: Faults] {
        var out: [Direction: Faults] = [:]
        var lots: [Direction: [Lot]] = [:]
        func set(_ action: FilterSpec.Action, _ d: Direction, _ toxic: Toxic? = nil) {
            // A reset outranks a hang: the connection is gone, not only silent.
            if out[d, default: Faults()].filter.action != .reset { out[d, default: Faults()].filter.action = action }
            lots[d, default: []].append(Lot(action: action, toxicity: toxic?.toxicity ?? 1, toxic: toxic?.name ?? ""))
        }
        for toxic in toxics where toxic.toxicity > 0 {
            let d = direction(toxic.stream)
            switch toxic.kind {
            case .latency(let l) where l.latency > .zero:
                // Toxiproxy chains toxics: two latencies add up.
                var n = out[d, default: Faults()].netem
                n.delay = Duration(nanoseconds: (n.delay ?? .zero).nanoseconds + l.latency.nanoseconds)
                lots[d, default: []].append(Lot(action: nil, toxicity: toxic.toxicity, toxic: toxic.name))
                // Toxiproxy accepts at once and delays the data only: the handshake is spared.
                n.sparesHandshake = true
                if l.jitter > .zero {
                    n.jitter = Duration(nanoseconds: (n.jitter ?? .zero).nanoseconds + l.jitter.nanoseconds)
                }
                out[d, default: Faults()].netem = n
            case .bandwidth(let b) where b.rate == 0:
                // Toxiproxy's rate 0 never sends a byte: in the kernel, the stream's data dropped.
                set(.hang, d, toxic)
            case .bandwidth(let b):
                // 1 KB = 1000 bytes, as Toxiproxy counts; two limits: the narrower holds.
                let rate = Rate(bitsPerSecond: UInt64(b.rate) * 8000)
                let old = out[d, default: Faults()].netem.rate
                out[d, default: Faults()].netem.rate = old.map { min($0, rate) } ?? rate
                lots[d, default: []].append(Lot(action: nil, toxicity: toxic.toxicity, toxic: toxic.name))
            case .timeout(let t) where t.timeout > .zero:
                // Data stops at once and each connection is reset once its time is up. On either
                // stream the requests hang: a hang of the responses would drop the client's reset.
                set(.hang, .toServer, toxic)
                resetAfter(t.timeout, into: &out)
            case .timeout:
                set(.hang, d, toxic)
            case .resetPeer(let r) where r.timeout == .zero:
                // Toxiproxy resets the client's connection: the client's next packet is answered with a RST.
                set(.reset, .toServer, toxic)
            case .resetPeer(let r):
                resetAfter(r.timeout, into: &out)
            case .slowClose, .slicer, .limitData: closeSliceAndLimit(toxic.kind, d, into: &out)
            default:
                break  // latency 0: nothing, as in Toxiproxy
            }
        }
        // A disabled proxy: new connections refused, open ones reset, also for direct clients.
        if !enabled { set(.reset, .toServer) }
        // A connection fault takes every packet of its direction already: no budget is left to
        // count. A hung connection still ends when its time is up (a timeout with a time).
        for (d, f) in out where f.filter.action != nil {
            let timer = f.filter.action == .hang ? f.filter.life?.resetAfter : nil
            out[d]?.filter.life = timer.map { ConnectionLife(resetAfter: $0) }
        }
        draw(lots, into: &out)
        return out.filter { !$0.value.isEmpty }
    }

    /// Where the kernel only approximates what Toxiproxy does: shown in the toxic's JSON.
    public static func notes(for toxic: Toxic) -> [String] {
        var notes: [String] = []
        switch toxic.kind {
        case .latency:
            let packets = toxic.stream == .upstream ? "requests" : "responses"
            notes.append(
                """
                netem delays each packet of the \(packets) but the handshake's (connect() pays nothing, as through \
                the proxy), for every client of the upstream, not only this proxy's
                """)
        case .slowClose, .slicer: notes += closeAndSliceNotes(toxic.kind)
        case .bandwidth(let b) where b.rate == 0:
            notes.append("rate 0 passes no data: the stream's packets are dropped after the handshake (a hang)")
        case .bandwidth:
            notes.append(
                "one shared netem rate for all connections to the upstream; Toxiproxy's rate is per connection")
        case .timeout(let t) where t.timeout > .zero:
            notes.append(
                """
                data stops: the requests are dropped whatever the stream (a hang of the responses would drop the \
                client's reset too), so the server does not see them; each connection is reset (RST) at its first \
                packet to the server more than \(toxic.attributes["timeout"] ?? 0) ms after its SYN (a client \
                waiting for data sends only TCP's resends, 0.2, 0.6, 1.4, 3 s... after its request, so the reset \
                can come that much late), where Toxiproxy closes it (FIN) that long after the stream's last data; \
                connections open before the toxic hang and are not reset
                """)
        case .timeout:
            notes.append(
                """
                data stops; when the toxic is removed, connections go on (TCP resends what was dropped), where \
                Toxiproxy closes them
                """)
        case .resetPeer(let r) where r.timeout > .zero:
            notes.append(
                """
                each connection is reset (RST) at its first packet to the server more than \
                \(toxic.attributes["timeout"] ?? 0) ms after its SYN, and its data passes until then (an idle one \
                is reset at its next packet); Toxiproxy starts the time at the stream's first data, passes none \
                of it meanwhile and resets both ends; connections open before the toxic are left alone
                """)
        case .limitData:
            notes.append(
                """
                the kernel counts each connection's IP packets from the server, headers and handshake included, \
                and resets the client (RST) in place of the segment that goes over, where Toxiproxy closes it after \
                exactly `bytes` of data
                """)
        default:
            break
        }
        return notes + toxicityNotes(toxic)
    }
}

extension KernelMapping {
    /// slow_close: the FINs leaving this host in the stream's direction (--slow-close), two add
    /// up; slicer: the server's own TCP cuts its segments at the SYN's MSS (--slice), two: the smaller;
    /// limit_data: a quota per connection on what the server sends (--limit-data), two: the smaller.
    static func closeSliceAndLimit(_ kind: ToxicKind, _ d: Direction, into out: inout [Direction: Faults]) {
        switch kind {
        case .limitData(let l):
            // 0 closes at once in Toxiproxy: here the first server packet (the SYN-ACK) is over.
            let bytes = UInt64(max(1, l.bytes))
            var life = out[.fromServer, default: Faults()].filter.life ?? ConnectionLife()
            life.limitData = min(life.limitData ?? bytes, bytes)
            out[.fromServer, default: Faults()].filter.life = life
        case .slowClose(let c) where c.delay > .zero:
            var n = out[d, default: Faults()].netem
            n.slowClose = Duration(nanoseconds: (n.slowClose ?? .zero).nanoseconds + c.delay.nanoseconds)
            out[d, default: Faults()].netem = n
        case .slicer(let c):
            let bytes = sliceBytes(c)
            var life = out[.fromServer, default: Faults()].filter.life ?? ConnectionLife()
            life.slice = min(life.slice ?? bytes, bytes)
            out[.fromServer, default: Faults()].filter.life = life
        default: break
        }
    }

    /// A per-connection timer on the client's packets (--reset-after); of two, the shorter holds.
    static func resetAfter(_ time: Duration, into out: inout [Direction: Faults]) {
        var life = out[.toServer, default: Faults()].filter.life ?? ConnectionLife()
        life.resetAfter = min(life.resetAfter ?? time, time)
        out[.toServer, default: Faults()].filter.life = life
    }

    /// A slicer's average_size within what --slice takes.
    static func sliceBytes(_ c: SlicerToxic) -> UInt16 {
        UInt16(clamping: min(max(c.averageSize, Int64(ConnectionLife.slices.lowerBound)),
                             Int64(ConnectionLife.slices.upperBound)))
    }

    static func closeAndSliceNotes(_ kind: ToxicKind) -> [String] {
        switch kind {
        case .slowClose:
            return [
                """
                the FINs leaving this host are held back (on loopback, the server's close for downstream, the \
                client's for upstream; an upstream on another host: only upstream), for every client of the \
                upstream; data goes on time
                """
            ]
        case .slicer(let c):
            return [
                """
                the server's own TCP cuts its segments at \(sliceBytes(c)) bytes (the MSS option of each new \
                connection's SYN, 64 to 1400), without size_variation or a delay between the pieces; connections \
                open before the toxic keep their segment size
                """
            ]
        default: return []
        }
    }
}
