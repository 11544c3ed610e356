import Foundation

/// An unprivileged process (uid and gid 65534, no groups) that binds abstract unix socket names
/// in the caller's network namespace, as any local user can: each `bound` name bare (no
/// listen, which a connect sees as free), each `listening` name with listen(), so a connect
/// reaches it. It holds them until released. Needs root (setpriv) and /usr/bin/python3.
public final class Squatter {
    public let pid: pid_t
    private let stdin: Int32
    private var released = false

    /// Names without the leading NUL. Throws when a name could not be bound (someone holds it).
    public init(bound: [String] = [], listening: [String] = []) throws {
        let script = """
            import os, resource, socket, sys
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            held, failed = [], []
            for arg in sys.argv[1:]:
                mode, name = arg.split(":", 1)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.bind(b"\\0" + name.encode())
                    if mode == "L": s.listen(64)
                    held.append(s)
                except OSError as e:
                    failed.append(name + ": " + str(e))
            print("ready %d %s" % (os.getuid(), "; ".join(failed[:3])), flush=True)
            sys.stdin.read()
            """
        let args = bound.map { "B:" + $0 } + listening.map { "L:" + $0 }
        let s = try spawn(
            ["/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3", "-c",
             script] + args,
            captureOutput: true, stdinPipe: true)
        pid = s.pid
        stdin = s.stdin
        defer { close(s.stdout); close(s.stderr) }
        var line = [UInt8]()
        var byte: UInt8 = 0
        while read(s.stdout, &byte, 1) == 1 && byte != UInt8(ascii: "\n") { line.append(byte) }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("ready 65534 ") else {
            release()
            throw TestFailure("the squatter did not start as uid 65534: \(text)")
        }
        let failed = text.dropFirst("ready 65534 ".count)
        guard failed.isEmpty else {
            release()
            throw TestFailure("the squatter could not bind: \(failed)")
        }
    }

    /// Ends the squatter; its names are free again.
    public func release() {
        guard !released else { return }
        released = true
        close(stdin)
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// The abstract names bound in this network namespace that start with `prefix`, as
    /// /proc/net/unix lists them to every user (without the leading "@").
    public static func boundNames(prefix: String) throws -> [String] {
        // Read to the end: a proc file answers a page per read, and its size says 0.
        guard let file = FileHandle(forReadingAtPath: "/proc/thread-self/net/unix") else {
            throw TestFailure("cannot open /proc/thread-self/net/unix")
        }
        defer { try? file.close() }
        let table = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        return table.split(separator: "\n").compactMap { line in
            guard let path = line.split(separator: " ").last, path.hasPrefix("@" + prefix) else { return nil }
            return String(path.dropFirst())
        }
    }
}
