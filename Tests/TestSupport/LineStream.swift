import Foundation

/// The lines a long-lived process writes on stdout, read as they come: one probe or monitor
/// process for a whole test, rather than a process start per sample (seconds each under the
/// VM's emulation when the host is busy).
public final class LineStream {
    public let process: Spawned
    private var buffer = [UInt8]()
    public private(set) var lines: [String] = []

    public init(_ process: Spawned) { self.process = process }

    /// Reads lines until `done` holds or `seconds` pass; false on timeout or end of output.
    @discardableResult
    public func read(seconds: Double, until done: () -> Bool) -> Bool {
        let deadline = monotonicMs() + seconds * 1000
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !done() {
            let left = Int32(max(0, deadline - monotonicMs()))
            var fd = pollfd(fd: process.stdout, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&fd, 1, left) > 0 else { return false }
            let n = Glibc.read(process.stdout, &chunk, chunk.count)
            if n <= 0 { return false }
            take(chunk[0..<n])
        }
        return true
    }

    /// Adds output read elsewhere (what `collect` read once the process ended).
    public func take<S: Sequence<UInt8>>(_ bytes: S) {
        buffer += bytes
        while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: buffer[..<nl], as: UTF8.self))
            buffer.removeFirst(nl + 1)
        }
    }

    /// A last line without its newline.
    public var partial: String { String(decoding: buffer, as: UTF8.self) }
}
