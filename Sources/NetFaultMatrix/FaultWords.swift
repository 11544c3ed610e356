import ArgumentParser
import FoundationEssentials
import NetFaultCommand
import NetFaultCore
import NetFaultServe
import NetFaultLeases

/// A scenario's fault, in netfault's option words, as the two backends take it: a lease request
/// (the same words `netfault apply` takes) or toxics for the built-in proxy.
enum FaultWords {
    /// Words that say where a fault goes: the scenario's services say that.
    static let placeWords = ["--host", "--peer", "--netns", "--netns-pid", "--server"]

    static func request(_ fault: Scenario.Fault, service: Scenario.Service, duration: Duration) throws -> FaultRequest {
        let placed = { (word: String) in placeWords.contains { word == $0 || word.hasPrefix($0 + "=") } }
        if let w = fault.words.first(where: placed) {
            throw InputError("\(w) is set by the service's upstream address; leave it out of the fault's words")
        }
        var args = [String(service.upstream.port)]
        if !isLoopback(service.upstream.host) { args += ["--host", service.upstream.host] }
        let options: LeaseOptions
        do { options = try LeaseOptions.parse(args + fault.words) } catch {
            throw InputError(LeaseOptions.message(for: error))
        }
        return try options.request(duration: "\(max(duration.nanoseconds / 1_000_000, 1))ms")
    }

    /// A server on loopback is reached at any loopback address ("localhost" may be ::1): the
    /// lease then matches the port on every address, as the serve daemon does.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// What the proxy backend does for a request: toxics, or turning the proxy off (refused
    /// connections), and where it differs from the kernel. nil toxics: no proxy equivalent.
    struct ProxyPlan: Equatable {
        var toxics: [Toxic] = []
        var disable = false
        var notes: [String] = []
        var unsupported: String?
    }

    static func proxyPlan(_ r: FaultRequest) -> ProxyPlan {
        var plan = ProxyPlan()
        let streams: [ToxicStream] =
            switch r.direction {
            case .toServer: [.upstream]
            case .fromServer: [.downstream]
            case .both: [.upstream, .downstream]
            }
        let n = r.netem
        let tcpRepairs = [
            n.loss.map { _ in "--loss" }, n.duplicate.map { _ in "--duplicate" }, n.corrupt.map { _ in "--corrupt" },
            n.reorder.map { _ in "--reorder" }, r.filter.loss.map { _ in "--loss-nft" },
        ].compactMap { $0 }
        if !tcpRepairs.isEmpty {
            plan.unsupported =
                """
                no proxy equivalent for \(tcpRepairs.joined(separator: ", ")): the TCP connections on each side of a \
                proxy repair lost, duplicated, corrupted and reordered packets
                """
            return plan
        }
        if let delay = n.delay {
            let jitter = n.jitter ?? .zero
            guard delay.nanoseconds % 1_000_000 == 0, jitter.nanoseconds % 1_000_000 == 0 else {
                plan.unsupported = "the proxy's latency toxic takes whole milliseconds; \(delay) is not"
                return plan
            }
            let latency = LatencyToxic(latency: delay, jitter: jitter)
            for s in streams { plan.toxics.append(Toxic(.latency(latency), stream: s)) }
            plan.notes.append(
                "latency delays each chunk of data the proxy reads, not each packet; connects are not delayed")
            if n.distribution != nil || n.delayCorrelation != nil {
                plan.notes.append("the proxy's jitter is uniform: --distribution and --delay-correlation do not apply")
            }
        }
        if let rate = n.rate {
            let kb = max(rate.bytesPerSecond / 1000, 1)
            for s in streams { plan.toxics.append(Toxic(.bandwidth(BandwidthToxic(rate: Int64(kb))), stream: s)) }
            plan.notes.append(
                """
                bandwidth is \(kb) KB/s of payload per connection; netem's rate counts whole packets of all \
                connections
                """)
        }
        if let mix = r.filter.mix {
            plan.unsupported =
                """
                no proxy equivalent for --connections \(mix): Toxiproxy draws each toxic on its own, so one \
                connection could meet two groups' faults
                """
            return plan
        }
        lifeToxics(r, streams: streams, into: &plan)
        if plan.unsupported != nil { return plan }
        let before = plan.toxics.count
        connectionFault(r.filter.action, into: &plan)
        if let share = r.filter.connections { draw(share, toxics: before..., into: &plan) }
        return plan
    }

    /// --connections in the proxy: the connection fault's toxic takes that toxicity.
    static func draw(_ share: ConnectionShare, toxics: PartialRangeFrom<Int>, into plan: inout ProxyPlan) {
        switch share {
        case .every:
            plan.unsupported = "no proxy equivalent for --connections \(share): a toxic's toxicity draws at random"
        case .percent where plan.disable:
            plan.unsupported =
                "no proxy equivalent for --reject --connections \(share): a disabled proxy refuses every connection"
        case .percent(let p):
            for i in plan.toxics.indices[toxics] { plan.toxics[i].toxicity = p.fraction }
            plan.notes.append(
                """
                toxicity \(p.fraction): the proxy draws each connection when it meets the toxic; the kernel at its \
                SYN, leaving connections open before the fault alone
                """)
        }
    }

    /// The toxic (or the disabled proxy) that stands for a connection fault.
    static func connectionFault(_ action: FilterSpec.Action?, into plan: inout ProxyPlan) {
        switch action {
        case .blackhole?:
            plan.toxics.append(Toxic(.timeout(TimeoutToxic()), stream: .upstream))
            plan.notes.append(
                """
                the proxy accepts the connection and then passes nothing; the kernel drops the SYN, so connect \
                times out
                """)
        case .hang?:
            plan.toxics.append(Toxic(.timeout(TimeoutToxic()), stream: .upstream))
        case .reset?:
            plan.toxics.append(Toxic(.resetPeer(ResetPeerToxic()), stream: .upstream))
            plan.notes.append(
                "the proxy accepts the connection and resets it when data arrives; the kernel resets the handshake too")
        case .reject?:
            plan.disable = true
            plan.notes.append(
                "the proxy stops listening and closes its open connections; the kernel refuses new connections only")
        case nil: break
        }
    }
}
