import NIOCore

/// One direction of a proxied connection: reads from `source` on demand, runs each chunk
/// through that direction's toxics in order, and writes what comes out to `destination`.
/// It lives on the connection's event loop (both channels share it).
///
/// Backpressure: the source is read only while the chain holds less than `bufferLimit` bytes
/// and the destination is writable; the source channel has autoRead off.
final class StreamPump {
    let direction: ToxicStream
    let eventLoop: any EventLoop
    private let source: any Channel
    private let destination: any Channel
    private unowned let connection: ProxyConnection
    private(set) var stages: [ToxicStage] = []

    /// Bytes inside the chain (queued or held by a stage), not yet written or dropped.
    private var buffered = 0
    static let bufferLimit = 4 << 20
    private var readPending = false
    private var inputEnded = false
    /// An end reached the destination: nothing more is written.
    private(set) var outputEnded = false
    private var lastWrite: EventLoopFuture<Void>?
    private var needsFlush = false
    private var pumping = false
    private var pumpAgain = false

    init(direction: ToxicStream, source: any Channel, destination: any Channel, connection: ProxyConnection) {
        self.direction = direction
        self.eventLoop = source.eventLoop
        self.source = source
        self.destination = destination
        self.connection = connection
    }

    // MARK: Events from the channels

    /// Starts with `toxics`, first passing on what the source sent before the pump existed.
    func start(toxics: [Toxic], early: [ByteBuffer] = [], earlyEOF: Bool = false) {
        setToxics(toxics)
        for buffer in early { received(buffer) }
        if earlyEOF { inputClosed(closeConnection: false) }
        wake()
    }

    func received(_ buffer: ByteBuffer) {
        guard !inputEnded, !stopped else { return }
        connection.traffic.received(buffer.readableBytes, on: direction)
        buffered += buffer.readableBytes
        emit(.data(buffer, since: .now()), after: nil)
        wake()
    }

    func readComplete() {
        readPending = false
        readIfRoom()
    }

    /// The source sent EOF (`closeConnection` false) or went away (true).
    func inputClosed(closeConnection: Bool) {
        guard !inputEnded, !stopped else { return }
        inputEnded = true
        emit(.end(closeConnection: closeConnection), after: nil)
        wake()
    }

    func destinationWritabilityChanged() {
        readIfRoom()
    }

    // MARK: The chain

    /// Runs every stage until none can make progress, then flushes and reads more if there is room.
    func wake() {
        guard !stopped else { return }
        if pumping {
            pumpAgain = true
            return
        }
        pumping = true
        repeat {
            pumpAgain = false
            for stage in stages { stage.run(in: self) }
        } while pumpAgain
        pumping = false
        if needsFlush {
            needsFlush = false
            destination.flush()
        }
        readIfRoom()
    }

    /// Passes a chunk to the stage after `stage` (nil: the first), or out to the destination.
    func emit(_ chunk: StreamChunk, after stage: ToxicStage?) {
        let next = stage.map { s in stages.firstIndex { $0 === s }.map { $0 + 1 } ?? stages.count } ?? 0
        if next < stages.count {
            stages[next].queue.append(chunk)
        } else {
            write(chunk)
        }
    }

    /// A stage swallowed a chunk.
    func dropped(_ chunk: StreamChunk) {
        buffered -= chunk.byteCount
    }

    func resetConnection() {
        connection.reset()
    }

    private func write(_ chunk: StreamChunk) {
        buffered -= chunk.byteCount
        guard !outputEnded else { return }
        switch chunk {
        case .data(let buffer, _):
            connection.traffic.sent(buffer.readableBytes, on: direction)
            lastWrite = destination.write(buffer)
            needsFlush = true
        case .end(let closeConnection):
            outputEnded = true
            destination.flush()
            needsFlush = false
            // Closing fails writes still pending, so wait for the last one.
            let written = lastWrite ?? eventLoop.makeSucceededVoidFuture()
            written.assumeIsolated().whenComplete { [connection, destination, direction] _ in
                if closeConnection {
                    connection.close()
                } else {
                    destination.close(mode: .output, promise: nil)
                    connection.streamEnded(direction)
                }
            }
        }
    }

    private func readIfRoom() {
        guard !stopped, !readPending, !inputEnded, !outputEnded, buffered < Self.bufferLimit,
              destination.isWritable, source.isActive else { return }
        readPending = true
        source.read()
    }

    // MARK: Changing the toxics

    /// Makes `toxics` (this direction's, in order) the chain, keeping the stages of toxics that
    /// stay (by name) and passing on, in order, what removed ones held.
    func setToxics(_ toxics: [Toxic]) {
        guard !stopped else { return }
        let old = stages
        var reordered: [StreamChunk] = []
        var kept: [String: ToxicStage] = [:]
        for stage in old { kept[stage.toxic.name] = stage }
        let newNames = Set(toxics.map(\.name))

        // Updated toxics first: what they held moves on to the next stage of the old chain.
        for toxic in toxics {
            if let stage = kept[toxic.name], stage.toxic != toxic { stage.update(to: toxic, in: self) }
        }

        let survivors = old.filter { newNames.contains($0.toxic.name) }
        let newOrder = toxics.compactMap { kept[$0.name] }
        if survivors.map(ObjectIdentifier.init) == newOrder.map(ObjectIdentifier.init) {
            // From the end: a removed stage's chunks are newer than the next survivor's queue.
            var next: ToxicStage?
            for stage in old.reversed() {
                if newNames.contains(stage.toxic.name) {
                    next = stage
                    continue
                }
                let chunks = stage.drain()
                if let next {
                    for chunk in chunks { next.queue.append(chunk) }
                } else {
                    for chunk in chunks { write(chunk) }
                }
            }
        } else {
            // Reordered: everything goes back to the head of the new chain, oldest first (the
            // last stage holds the oldest chunks).
            for stage in old.reversed() { reordered += stage.drain() }
        }

        stages = toxics.map { kept[$0.name] ?? ToxicStage(toxic: $0) }
        for stage in stages where !old.contains(where: { $0 === stage }) { stage.start(in: self) }
        for chunk in reordered { emit(chunk, after: nil) }
        reordered.removeAll()
        wake()
    }

    /// Stops every stage's clocks and the pump itself (the connection is closing).
    func stop() {
        stopped = true
        for stage in stages { _ = stage.interrupt() }
    }
    private var stopped = false
}
