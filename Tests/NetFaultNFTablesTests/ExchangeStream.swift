import Foundation
import TestSupport
import Testing

/// One exchange of scripts/probe-client's watch-redis: a new connection, PING, +PONG.
struct Exchange: CustomStringConvertible {
    /// When it began, on CLOCK_MONOTONIC (the clock of `monotonicMs`), and how long it took.
    let began: Double
    let elapsed: Double
    let outcome: String
    /// With watch-redis --pings and --quit: the connect, each later PING, QUIT's +OK, and the
    /// wait from +OK to the server's close (EOF), in ms.
    let connectMs: Double?
    let pingsMs: [Double]
    let okMs: Double?
    let eofMs: Double?
    var description: String {
        "\(outcome) begun at \(Int(began)) in \(Int(elapsed)) ms"
            + (connectMs.map { " (connect \($0), pings \(pingsMs), ok \(okMs ?? -1), eof \(eofMs ?? -1))" } ?? "")
    }

    /// From one line of watch-redis: {"t_ms": ..., "elapsed_ms": ..., "outcome": ...}.
    init?(line: String) {
        let fields = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        guard let began = fields["t_ms"] as? Double, let elapsed = fields["elapsed_ms"] as? Double else { return nil }
        self.began = began
        self.elapsed = elapsed
        self.outcome = fields["outcome"] as? String ?? ""
        connectMs = fields["connect_ms"] as? Double
        pingsMs = fields["pings_ms"] as? [Double] ?? []
        okMs = fields["ok_ms"] as? Double
        eofMs = fields["eof_ms"] as? Double
    }
}

/// One probe process that lives for a whole test and stamps each exchange itself, so the
/// kernel's timing is judged without a process start per sample (a second or more under the
/// VM's emulation when the host is busy).
final class ExchangeStream {
    private let stream: LineStream
    private var finished = false
    private(set) var exchanges: [Exchange] = []
    /// How many of the stream's lines `exchanges` holds.
    private var parsed = 0

    /// Starts watch-redis in namespace `ns` against host:port and waits for one exchange that
    /// succeeded, so the server is warm before anything is judged. `more`: watch-redis's --pings
    /// and --quit.
    init(namespace ns: String, host: String, port: UInt16, more: [String] = []) throws {
        stream = LineStream(
            try spawn(
                [
                    "ip", "netns", "exec", ns, python, probePath, "watch-redis", host, "\(port)", "--timeout", "5",
                    "--for", "600"
                ] + more, captureOutput: true, stdinPipe: true))
        guard read(seconds: 60, until: { $0.contains { $0.outcome == "ok" } }) else {
            let rest = stop()
            throw TestFailure("watch-redis \(host) \(port): no exchange succeeded in 60s: \(exchanges) \(rest)")
        }
    }

    /// Reads the exchanges that arrive until `done` holds for all so far, or `seconds` pass.
    @discardableResult
    func read(seconds: Double, until done: ([Exchange]) -> Bool) -> Bool {
        stream.read(seconds: seconds) {
            exchanges += stream.lines[parsed...].compactMap(Exchange.init(line:))
            parsed = stream.lines.count
            return done(exchanges)
        }
    }

    /// The exchanges begun at or after `ms`, once one of them has ended (waiting up to `seconds`).
    func after(_ ms: Double, seconds: Double) -> [Exchange] {
        read(seconds: seconds) { $0.contains { $0.began >= ms } }
        return exchanges.filter { $0.began >= ms }
    }

    /// Ends the probe (it stops at EOF on stdin); returns its remaining output.
    @discardableResult
    func stop() -> String {
        guard !finished else { return "" }
        finished = true
        close(stream.process.stdin)
        let r = collect(stream.process)
        return stream.partial + r.stdout + r.stderr
    }

    deinit { stop() }
}

/// When the kernel will drop the lease's port set elements, on CLOCK_MONOTONIC: the remaining
/// timeout nft reads back, counted from after the read (a bound the real deadline is within).
func kernelDeadline(_ ns: Namespace, lease id: String) throws -> Double {
    let listing = try ns.exec("nft", "list", "table", "inet", "netfault-\(id)")
    let read = monotonicMs()
    guard let expires = listing.stdout.firstMatch(of: /expires ((?:\d+[hdms]+)+)/)?.1 else {
        throw TestFailure("no expiring element in table netfault-\(id): \(listing.stdout) \(listing.stderr)")
    }
    var ms = 0.0
    for part in expires.matches(of: /(\d+)(ms|s|m|h|d)/) {
        let n = Double(part.1) ?? 0
        ms += n * ["ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000][String(part.2)]!
    }
    return read + ms
}
