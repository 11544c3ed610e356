import Foundation
import TestSupport

/// `nft monitor` in a namespace for a whole test: the kernel's own account of every table, set,
/// element and rule added there, without a process start per sample (seconds each under the
/// VM's emulation when the host is busy, which made sampled checks miss whole leases).
final class RulesetMonitor {
    private let stream: LineStream
    private var finished = false
    var lines: [String] { stream.lines }

    /// Starts the monitor and waits until it reports a marker table made after it started, so
    /// nothing the test does afterwards can happen before it listens. The marker is made again
    /// every 2 s: under the VM's emulation the monitor can take seconds to start listening.
    init(_ ns: Namespace) throws {
        stream = LineStream(try spawn(["ip", "netns", "exec", ns.name, "nft", "monitor"], captureOutput: true))
        let marker = "netfault_monitor_\(getpid())"
        for _ in 0..<30 {
            try ns.exec("nft", "add", "table", "inet", marker)
            try ns.exec("nft", "delete", "table", "inet", marker)
            if read(seconds: 2, until: { $0.contains { $0.contains("delete table inet \(marker)") } }) { return }
        }
        let rest = stop()
        throw TestFailure("nft monitor reported none of 30 marker tables in 60 s: \(lines) \(rest)")
    }

    /// Reads lines until `done` holds for all so far, or `seconds` pass.
    @discardableResult
    func read(seconds: Double, until done: ([String]) -> Bool) -> Bool {
        stream.read(seconds: seconds) { done(stream.lines) }
    }

    /// What the kernel reported of table `netfault-ID`: whether its deadline set got an element
    /// with a timeout (the kernel ends the lease), and whether a rule set the packet priority
    /// (netem's band reached through the table rather than u32 filters).
    func lease(_ id: String) -> (expiring: Bool, steering: Bool) {
        let table = "inet netfault-\(id) "
        let mine = lines.filter { $0.contains(table) }
        return (
            mine.contains { $0.hasPrefix("add element") && $0.contains(" timeout ") },
            mine.contains { $0.hasPrefix("add rule") && $0.contains("meta priority set") }
        )
    }

    /// Ends the monitor; reads what it still had; returns its stderr.
    @discardableResult
    func stop() -> String {
        guard !finished else { return "" }
        finished = true
        kill(stream.process.pid, SIGTERM)
        let r = collect(stream.process)
        stream.take(r.stdout.utf8)
        return r.stderr
    }

    deinit { stop() }
}
