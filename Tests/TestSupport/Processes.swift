import Foundation

// Process helpers the kernel test targets share (test targets cannot import each other).
// posix_spawn rather than Foundation.Process: its run-loop based reaping stalled on
// user-mode Linux's single CPU.

/// Progress lines on stderr when NETFAULT_TEST_TRACE is set, to see where a kernel test waits.
public func trace(_ line: String) {
    if ProcessInfo.processInfo.environment["NETFAULT_TEST_TRACE"] != nil {
        FileHandle.standardError.write(Data("trace: \(line)\n".utf8))
    }
}

public struct Run: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status; self.stdout = stdout; self.stderr = stderr
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public struct Spawned: Sendable {
    public let pid: pid_t
    public let stdin: Int32  // -1 unless asked for
    public let stdout: Int32  // -1 unless captured
    public let stderr: Int32
}

/// Starts a program with posix_spawn (no Foundation.Process), signals unblocked and default.
public func spawn(
    _ argv: [String], captureOutput: Bool, stdinPipe: Bool = false, logFile: String? = nil
) throws -> Spawned {
    var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if stdinPipe {
        guard pipe(&inPipe) == 0 else { throw TestFailure("pipe: \(errno)") }
        for fd in inPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if captureOutput {
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw TestFailure("pipe: \(errno)") }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    } else {
        let out = logFile ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t(), all = sigset_t()
    sigemptyset(&empty)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, &attr, &cargs, environ)
    if stdinPipe { close(inPipe[0]) }
    if captureOutput { close(outPipe[1]); close(errPipe[1]) }
    guard rc == 0 else {
        for fd in [inPipe[1], outPipe[0], errPipe[0]] where fd >= 0 { close(fd) }
        throw TestFailure("cannot start \(argv[0]): \(String(cString: strerror(rc)))")
    }
    return Spawned(pid: pid, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0])
}

public func waitStatus(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// SIGTERM, up to `seconds` for the process to exit, then SIGKILL; always reaps it.
public func stop(_ pid: pid_t, seconds: Double = 10) {
    kill(pid, SIGTERM)
    let deadline = monotonicMs() + seconds * 1000
    var status: Int32 = 0
    while monotonicMs() < deadline {
        if waitpid(pid, &status, WNOHANG) != 0 { return }
        usleep(20_000)
    }
    kill(pid, SIGKILL)
    _ = waitStatus(pid)
}

/// Reads both pipes to their end and reaps the process.
public func collect(_ p: Spawned) -> Run {
    var out = [UInt8](), err = [UInt8]()
    var fds = [
        pollfd(fd: p.stdout, events: Int16(POLLIN), revents: 0), pollfd(fd: p.stderr, events: Int16(POLLIN), revents: 0)
    ]
    var buf = [UInt8](repeating: 0, count: 65536)
    while fds.contains(where: { $0.fd >= 0 }) {
        guard poll(&fds, nfds_t(fds.count), -1) >= 0 || errno == EINTR else { break }
        for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
            let n = read(fds[i].fd, &buf, buf.count)
            if n > 0 {
                if i == 0 { out += buf[0..<n] } else { err += buf[0..<n] }
            } else if n == 0 || errno != EINTR {
                close(fds[i].fd)
                fds[i].fd = -1
            }
        }
    }
    return Run(
        status: waitStatus(p.pid), stdout: String(decoding: out, as: UTF8.self),
        stderr: String(decoding: err, as: UTF8.self))
}

/// Runs a program to completion and captures its output.
@discardableResult
/// `prefix` runs it through another program (setpriv, nsenter).
public func run(_ executable: String, _ args: [String], prefix: [String] = []) throws -> Run {
    trace("run: \((prefix + [executable] + args).joined(separator: " "))")
    return collect(try spawn(prefix + [executable] + args, captureOutput: true))
}

public func monotonicMs() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
}

/// Copies a program for a test to run. `cp` writes it in a child: a copy written here would
/// hold a writable descriptor that a fork on another test thread inherits until its exec,
/// and running the copy meanwhile fails with ETXTBSY ("Text file busy").
public func copyProgram(_ from: String, to: String) throws {
    let r = try run("/bin/cp", [from, to])
    guard r.status == 0 else { throw TestFailure("cp \(from) \(to): \(r.stderr)") }
}

/// A value shared between the threads of one test.
public final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    public init(_ v: T) { self.v = v }
    public var value: T { lock.lock(); defer { lock.unlock() }; return v }
    public func update(_ f: (inout T) -> Void) { lock.lock(); f(&v); lock.unlock() }
}
