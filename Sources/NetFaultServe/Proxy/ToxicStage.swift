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

/// One toxic acting on one direction of one connection, as a Toxiproxy stub does: it takes
/// chunks from its queue in order and passes them on to the next stage, possibly later,
/// changed, or not at all. It lives on the connection's event loop.
///
/// A stage waiting on a timer holds everything queued behind it, so order is kept.
final class ToxicStage {
    private(set) var toxic: Toxic
    /// Whether this connection drew the toxic (toxicity); an inactive stage passes everything on.
    private(set) var active: Bool
    /// Chunks waiting for this stage, oldest first.
    var queue = CircularBuffer<StreamChunk>()
    /// Chunks this stage has taken and will pass on when `timer` fires: a delayed chunk, a
    /// bandwidth piece, the rest of a sliced chunk, a slowed end.
    private var held = CircularBuffer<StreamChunk>()
    private var timer: Scheduled<Void>?
    /// timeout: closes the connection when no data came for that long.
    private var idleTimer: Scheduled<Void>?
    /// reset_peer: set once data (or the end) reached it; the stage then holds everything.
    private var resetTimer: Scheduled<Void>?
    private var resetting = false
    /// The stage passed on an end (its own or the stream's): whatever comes later is dropped.
    private var finished = false
    /// limit_data: bytes passed so far; kept when the toxic is updated, as Toxiproxy's state is.
    private var bytesPassed: Int64 = 0
    /// bandwidth: when the link is free again.
    private var nextSend = NIODeadline.uptimeNanoseconds(0)

    init(toxic: Toxic) {
        self.toxic = toxic
        self.active = Self.draw(toxic.toxicity)
    }

    /// Toxiproxy draws toxicity each time a toxic starts on a link (added, updated, new connection).
    private static func draw(_ toxicity: Double) -> Bool {
        toxicity >= 1 || (toxicity > 0 && Double.random(in: 0..<1) < toxicity)
    }

    /// Starts the stage's own clock (timeout's), once it is in the chain.
    func start(in pump: StreamPump) {
        restartIdleTimer(in: pump)
    }

    /// Processes what it can; returns when the queue is empty or the stage waits.
    func run(in pump: StreamPump) {
        while timer == nil {
            if let chunk = held.popFirst() {
                pump.emit(chunk, after: self)
                if case .slicer(_, _, let delay) = effectiveEffect, delay > 0, case .data = chunk {
                    schedule(in: pump, at: .now() + .microseconds(delay))
                }
                continue
            }
            if isStalled { return }
            guard let chunk = queue.popFirst() else { return }
            handle(chunk, in: pump)
        }
    }

    /// The toxic's effect, or nil when the stage passes everything (not drawn, or finished).
    private var effectiveEffect: Toxic.Effect? { active ? toxic.effect : nil }

    private var isStalled: Bool {
        guard let effect = effectiveEffect, !finished else { return false }
        switch effect {
        case .bandwidth(let rate): return rate <= 0  // Toxiproxy never sends at rate 0
        case .resetPeer: return resetting
        default: return false
        }
    }

    private func handle(_ chunk: StreamChunk, in pump: StreamPump) {
        if finished {
            pump.dropped(chunk)
            return
        }
        guard let effect = effectiveEffect else {
            pump.emit(chunk, after: self)
            return
        }
        switch (effect, chunk) {
        case (.latency(let ms, let jitter), .data(let buffer, let since)):
            delay(chunk, buffer, since: since, ms: ms, jitter: jitter, in: pump)

        case (.bandwidth(let rate), .data(let buffer, let since)):
            throttle(buffer, since: since, rate: rate, in: pump)

        case (.slowClose(let ms), .end):
            held.append(chunk)
            schedule(in: pump, at: .now() + .milliseconds(ms))

        case (.timeout, .data):
            pump.dropped(chunk)
            restartIdleTimer(in: pump)

        case (.timeout, .end):
            cancel(&idleTimer)
            pump.emit(chunk, after: self)

        case (.resetPeer(let ms), _):
            // Toxiproxy's reset_peer swallows what reaches it, waits, then resets both sockets.
            pump.dropped(chunk)
            resetting = true
            if ms <= 0 {
                pump.resetConnection()
            } else {
                resetTimer = pump.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(ms)) { [weak pump] in
                    pump?.resetConnection()
                }
            }

        case (.slicer(let average, let variation, _), .data(var buffer, let since)):
            for length in sliceLengths(of: buffer.readableBytes, averageSize: average, sizeVariation: variation) {
                held.append(.data(buffer.readSlice(length: length)!, since: since))
            }

        case (.limitData(let limit), .data(let buffer, let since)):
            pass(buffer, since: since, upTo: limit, in: pump)

        default:
            // Data through slow_close, the end through the rest: passed on at once, as Toxiproxy does.
            if case .end = chunk { finished = true }
            pump.emit(chunk, after: self)
        }
    }

    /// latency: the chunk goes on `ms` (give or take `jitter`) after it arrived.
    private func delay(
        _ chunk: StreamChunk, _ buffer: ByteBuffer, since: NIODeadline, ms: Int64, jitter: Int64, in pump: StreamPump
    ) {
        var delay = ms
        if jitter > 0 { delay += Int64.random(in: -jitter..<jitter) }
        let due = since + .milliseconds(delay)
        if due <= .now() {
            pump.emit(chunk, after: self)
        } else {
            held.append(.data(buffer, since: due))
            schedule(in: pump, at: due)
        }
    }

    /// bandwidth: at most 100 ms of data at a time, each piece sent once the link has carried it.
    private func throttle(_ buffer: ByteBuffer, since: NIODeadline, rate: Int64, in pump: StreamPump) {
        var buffer = buffer
        let most = Int(clamping: rate * 100)
        if buffer.readableBytes > most {
            let piece = buffer.readSlice(length: most)!
            queue.prepend(.data(buffer, since: since))
            buffer = piece
        }
        let duration = TimeAmount.nanoseconds(Int64(buffer.readableBytes) * 1_000_000 / rate)
        nextSend = max(.now(), nextSend) + duration
        held.append(.data(buffer, since: since))
        schedule(in: pump, at: nextSend)
    }

    /// limit_data: data passes until `limit` bytes have, then the connection closes.
    private func pass(_ buffer: ByteBuffer, since: NIODeadline, upTo limit: Int64, in pump: StreamPump) {
        var buffer = buffer
        let remaining = max(0, limit - bytesPassed)
        if Int64(buffer.readableBytes) > remaining {
            let kept = buffer.readSlice(length: Int(remaining))!
            pump.dropped(.data(buffer, since: since))
            buffer = kept
        }
        if buffer.readableBytes > 0 {
            bytesPassed += Int64(buffer.readableBytes)
            pump.emit(.data(buffer, since: since), after: self)
        }
        if limit - bytesPassed <= 0 {
            finish(in: pump)
        }
    }

    /// The toxic closes the connection: everything after it gets the end, and nothing more passes.
    private func finish(in pump: StreamPump) {
        finished = true
        cancel(&idleTimer)
        pump.emit(.end(closeConnection: true), after: self)
    }

    private func restartIdleTimer(in pump: StreamPump) {
        cancel(&idleTimer)
        // Toxiproxy's timeout restarts its timer on every chunk it swallows.
        guard case .timeout(let ms) = effectiveEffect, ms > 0, !finished else { return }
        idleTimer = pump.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(ms)) { [weak self, weak pump] in
            guard let self, let pump else { return }
            self.idleTimer = nil
            self.finish(in: pump)
            pump.wake()
        }
    }

    private func schedule(in pump: StreamPump, at deadline: NIODeadline) {
        timer = pump.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self, weak pump] in
            self?.timer = nil
            pump?.wake()
        }
    }

    private func cancel(_ scheduled: inout Scheduled<Void>?) {
        scheduled?.cancel()
        scheduled = nil
    }

    /// Stops the stage's clocks and hands back what it held, oldest first (nothing is dropped
    /// when a toxic goes away); the queue stays.
    func interrupt() -> [StreamChunk] {
        cancel(&timer)
        cancel(&idleTimer)
        cancel(&resetTimer)
        resetting = false
        defer { held.removeAll() }
        return Array(held)
    }

    /// The same toxic with new attributes or toxicity: what it held goes on, its queue stays for
    /// the new settings, toxicity is drawn again and limit_data's count is kept (as Toxiproxy).
    func update(to toxic: Toxic, in pump: StreamPump) {
        for chunk in interrupt() { pump.emit(chunk, after: self) }
        self.toxic = toxic
        active = Self.draw(toxic.toxicity)
        restartIdleTimer(in: pump)
    }

    /// Removed from the chain: everything it held and queued, oldest first.
    func drain() -> [StreamChunk] {
        let chunks = interrupt() + Array(queue)
        queue.removeAll()
        return chunks
    }
}
