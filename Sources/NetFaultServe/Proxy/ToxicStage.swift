import NIOCore

/// What flows down a toxic chain: data (with the time it is due from, which latency moves on),
/// or the end of the stream. `closeConnection` ends asks for the whole connection to close
/// (a toxic closed it: timeout, limit_data, or the peer went away) rather than passing on a
/// half-close.
enum StreamChunk {
    case data(ByteBuffer, since: NIODeadline)
    case end(closeConnection: Bool)

    var byteCount: Int {
        if case .data(let buffer, _) = self { buffer.readableBytes } else { 0 }
    }
}

/// A toxic's behaviour in the proxy backend, as Toxiproxy's Pipe: the stage hands it, in order,
/// the chunks of a connection that drew it; it passes them on, holds, drops or ends them
/// through the stage. Each toxic type's is in its own file (Toxics/).
protocol ProxyToxic {
    func handle(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump)
    /// The stage holds back its queue (bandwidth at rate 0, reset_peer once resetting).
    func stalls(_ stage: ToxicStage) -> Bool
    /// A chunk the stage held went on (slicer waits before the next).
    func released(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump)
    /// The toxic met the connection: joined its chain, or was updated (timeout starts its clock).
    func start(in stage: ToxicStage, _ pump: StreamPump)
    /// Removing the toxic closes the connections it acted on (Toxiproxy's CleanupToxic).
    var closesWhenRemoved: Bool { get }
}

extension ProxyToxic {
    func stalls(_ stage: ToxicStage) -> Bool { false }
    func released(_ chunk: StreamChunk, in stage: ToxicStage, _ pump: StreamPump) {}
    func start(in stage: ToxicStage, _ pump: StreamPump) {}
    var closesWhenRemoved: Bool { false }
}

extension ToxicKind {
    var proxied: any ProxyToxic {
        switch self {
        case .noop(let t): t
        case .latency(let t): t
        case .bandwidth(let t): t
        case .slowClose(let t): t
        case .timeout(let t): t
        case .resetPeer(let t): t
        case .slicer(let t): t
        case .limitData(let t): t
        }
    }
}

/// One toxic acting on one direction of one connection, as a Toxiproxy stub does: it takes
/// chunks from its queue in order and gives them to the toxic's behaviour, which passes them on
/// to the next stage, possibly later, changed, or not at all. It lives on the connection's event
/// loop.
///
/// A stage waiting on a timer holds everything queued behind it, so order is kept.
final class ToxicStage {
    private(set) var toxic: Toxic
    private var behaviour: any ProxyToxic
    /// Whether this connection drew the toxic (toxicity); an inactive stage passes everything on.
    private(set) var active: Bool
    /// Chunks waiting for this stage, oldest first.
    var queue = CircularBuffer<StreamChunk>()
    /// Chunks this stage has taken and will pass on when `timer` fires: a delayed chunk, a
    /// bandwidth piece, the rest of a sliced chunk, a slowed end.
    private var held = CircularBuffer<StreamChunk>()
    private var timer: Scheduled<Void>?
    /// The toxic's own clock: timeout's idle time, reset_peer's wait before the reset.
    private var clock: Scheduled<Void>?
    /// reset_peer: set once data (or the end) reached it; the stage then holds everything.
    var resetting = false
    /// The stage passed on an end (its own or the stream's): whatever comes later is dropped.
    private var finished = false
    /// limit_data: bytes passed so far; kept when the toxic is updated, as Toxiproxy's state is.
    var bytesPassed: Int64 = 0
    /// bandwidth: when the link is free again.
    var nextSend = NIODeadline.uptimeNanoseconds(0)

    init(toxic: Toxic) {
        self.toxic = toxic
        self.behaviour = toxic.kind.proxied
        self.active = Self.draw(toxic.toxicity)
    }

    /// Toxiproxy draws toxicity each time a toxic starts on a link (added, updated, new connection).
    private static func draw(_ toxicity: Double) -> Bool {
        toxicity >= 1 || (toxicity > 0 && Double.random(in: 0..<1) < toxicity)
    }

    /// Starts the toxic's own clock (timeout's), once the stage is in the chain.
    func start(in pump: StreamPump) {
        guard active, !finished else { return }
        behaviour.start(in: self, pump)
    }

    /// Processes what it can; returns when the queue is empty or the stage waits.
    func run(in pump: StreamPump) {
        while timer == nil {
            if let chunk = held.popFirst() {
                pump.emit(chunk, after: self)
                if active { behaviour.released(chunk, in: self, pump) }
                continue
            }
            if active && !finished && behaviour.stalls(self) { return }
            guard let chunk = queue.popFirst() else { return }
            if finished {
                pump.dropped(chunk)
            } else if active {
                behaviour.handle(chunk, in: self, pump)
            } else {
                pump.emit(chunk, after: self)
            }
        }
    }

    // MARK: What a toxic's behaviour does with its chunks

    /// Passes the chunk to the next stage now.
    func pass(_ chunk: StreamChunk, _ pump: StreamPump) { pump.emit(chunk, after: self) }

    /// What a toxic does not act on (data through slow_close, the end through the rest):
    /// passed on at once, as Toxiproxy does; after an end, nothing more.
    func passOn(_ chunk: StreamChunk, _ pump: StreamPump) {
        if case .end = chunk { finished = true }
        pump.emit(chunk, after: self)
    }

    func drop(_ chunk: StreamChunk, _ pump: StreamPump) { pump.dropped(chunk) }

    /// Keeps a chunk to pass on, in order, once the stage no longer waits.
    func hold(_ chunk: StreamChunk) { held.append(chunk) }

    /// The stage waits (holding its queue) until `deadline`.
    func wait(until deadline: NIODeadline, _ pump: StreamPump) {
        timer = pump.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self, weak pump] in
            self?.timer = nil
            pump?.wake()
        }
    }

    /// The toxic closes the connection: everything after it gets the end, and nothing more passes.
    func finish(_ pump: StreamPump) {
        finished = true
        stopClock()
        pump.emit(.end(closeConnection: true), after: self)
    }

    /// Runs `fire` after `delay` unless the clock is stopped first (or the stage interrupted).
    func startClock(after delay: TimeAmount, _ pump: StreamPump, _ fire: @escaping (ToxicStage, StreamPump) -> Void) {
        stopClock()
        clock = pump.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self, weak pump] in
            guard let self, let pump else { return }
            self.clock = nil
            fire(self, pump)
        }
    }

    func stopClock() { cancel(&clock) }

    private func cancel(_ scheduled: inout Scheduled<Void>?) {
        scheduled?.cancel()
        scheduled = nil
    }

    // MARK: Changing the toxic

    /// Stops the stage's clocks and hands back what it held, oldest first (nothing is dropped
    /// when a toxic goes away); the queue stays.
    func interrupt() -> [StreamChunk] {
        cancel(&timer)
        cancel(&clock)
        resetting = false
        defer { held.removeAll() }
        return Array(held)
    }

    /// The same toxic with new attributes or toxicity: what it held goes on, its queue stays for
    /// the new settings, toxicity is drawn again and limit_data's count is kept (as Toxiproxy).
    func update(to toxic: Toxic, in pump: StreamPump) {
        for chunk in interrupt() { pump.emit(chunk, after: self) }
        self.toxic = toxic
        behaviour = toxic.kind.proxied
        active = Self.draw(toxic.toxicity)
        start(in: pump)
    }

    /// Removed from the chain: everything it held and queued, oldest first.
    func drain() -> [StreamChunk] {
        let chunks = interrupt() + Array(queue)
        queue.removeAll()
        return chunks
    }
}
