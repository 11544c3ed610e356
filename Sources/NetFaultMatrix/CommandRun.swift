import Dispatch
import FoundationEssentials
import Glibc
import NetFaultCommand
import NetFaultCore
import NetFaultKernel
import NetFaultMatrixReport
import NetFaultLeases

/// One run of the scenario's command: its status, time, output, and the connections its
/// processes held to each service, sampled from the kernel every 100 ms.
struct CommandRun {
    var exitStatus: Int32?
    var timedOut = false
    var interrupted = false
    var seconds: Double
    var outputTail: String
    var connections: [ConnectionCounts]
    var metrics: [String: Double]

    var passed: Bool { exitStatus == 0 && !timedOut }
}

/// The ports to watch: a service, and the port the command reaches it at.
struct WatchedPort {
    let service: String
    let port: UInt16
}

/// Set from a signal handler's queue: the matrix stops after the cell in progress.
final class StopFlag: @unchecked Sendable {
    private let lock = Condition()
    private var stopped = false
    func stop() { lock.withLock { stopped = true } }
    var isSet: Bool { lock.withLock { stopped } }
}

enum CommandRunner {
    static let sampleInterval = 0.1
    static let tailLines = 40

    static func run(
        _ argv: [String], environment: [String: String], directory: String, identity: CommandIdentity,
        timeout: Duration, watch: [WatchedPort], stop: StopFlag, cgroupProcs: Int32 = -1
    ) throws -> CommandRun {
        let dir = try temporaryDirectory(owner: identity)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/output", metricsPath = dir + "/metrics.json"
        let out = open(outPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw ProcessError("cannot create \(outPath): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        var env = identity.environment.merging(environment) { $1 }
        env["NETFAULT_MATRIX_METRICS"] = metricsPath
        let runIdentity = CommandIdentity(
            uid: identity.uid, gid: identity.gid, groups: identity.groups, environment: env, drop: identity.drop)
        let sockets = try TCPSockets(), start = seconds()
        // The child's copy is dup'ed onto 1 and 2; it gets no other descriptor of ours.
        let pid = try startCommand(
            argv, as: runIdentity, output: out, newSession: true, directory: directory, cgroupProcs: cgroupProcs,
            onlyStandardFDs: true)
        let group: pid_t = 0 - pid  // kill(group, ...) signals the whole session's process group
        let done = DispatchSemaphore(value: 0)
        let ended = Box<(status: Int32, at: Double)>()
        DispatchQueue.global().async {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            ended.value = (status, seconds())
            done.signal()
        }
        var samplers = watch.map { Sampler(watched: $0) }
        var killedAt: Double?
        var timedOut = false, interrupted = false
        while done.wait(timeout: .now() + sampleInterval) == .timedOut {
            let held = heldSockets(session: pid, sockets: sockets)
            // A scan the command's exit overtook saw its sockets closing: only one taken while it ran counts.
            if isRunning(pid) { for i in samplers.indices { samplers[i].add(held) } }
            let now = seconds()
            if killedAt == nil && (now - start >= timeout.seconds || stop.isSet) {
                timedOut = !stop.isSet
                interrupted = stop.isSet
                kill(group, stop.isSet ? SIGINT : SIGTERM)
                killedAt = now
            } else if let k = killedAt, now - k > 5 {
                kill(group, SIGKILL)
            }
        }
        // Whatever the command left running in its session goes with it.
        kill(group, SIGKILL)
        let (status, endedAt) = ended.value!
        let sig = status & 0x7f
        var metrics: [String: Double] = [:]
        if let data = FileManager.default.contents(atPath: metricsPath), !data.isEmpty,
            let object = try? JSONDecoder().decode([String: Double].self, from: data)
        {
            metrics = object
        }
        return CommandRun(
            exitStatus: sig == 0 ? (status >> 8) & 0xff : 128 + sig, timedOut: timedOut, interrupted: interrupted,
            seconds: endedAt - start, outputTail: tail(of: outPath), connections: samplers.map(\.counts),
            metrics: metrics)
    }

    /// The sockets held by the processes of session `sid`: their fds that link to
    /// "socket:[INODE]", matched with sock_diag's inodes.
    static func heldSockets(session sid: pid_t, sockets: TCPSockets) -> [TCPSocket] {
        let inodes = socketInodes(session: sid)
        guard !inodes.isEmpty, let all = try? sockets.dump() else { return [] }
        return all.filter { $0.inode != 0 && inodes.contains($0.inode) }
    }

    /// Whether `pid` has not begun to exit: it exists and is not a zombie (exit closes its files
    /// first, then makes it one).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    static func socketInodes(session sid: pid_t) -> Set<UInt32> {
        var inodes: Set<UInt32> = []
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return inodes }
        for entry in entries where entry.first?.isNumber == true {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (comm)": state ppid pgrp session ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, Int32(fields[3]) == sid else { continue }
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd") else { continue }
            for fd in fds {
                guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\(fd)"),
                    link.hasPrefix("socket:["), let inode = UInt32(link.dropFirst(8).dropLast())
                else { continue }
                inodes.insert(inode)
            }
        }
        return inodes
    }

    /// A directory the command's user may write its metrics into.
    static func temporaryDirectory(owner: CommandIdentity) throws -> String {
        var template = Array("/tmp/netfault-matrix.XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else {
            throw ProcessError("cannot create a directory under /tmp: \(String(cString: strerror(errno)))")
        }
        let path = String(cString: p)
        if owner.drop { _ = chown(path, owner.uid, owner.gid) }
        return path
    }

    /// The output's last lines, at most 8 KiB of them.
    static func tail(of path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        let text = String(decoding: data.suffix(8192), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(tailLines)
            .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Seconds on the monotonic clock.
func seconds() -> Double { Double(MonotonicClock.nanoseconds()) / 1e9 }

/// Peak, final and by-state counts for one watched port.
struct Sampler {
    let watched: WatchedPort
    var peak = 0, last = 0, peakEstablished = 0, peakConnecting = 0, samples = 0

    mutating func add(_ held: [TCPSocket]) {
        let mine = held.filter { $0.remotePort == watched.port }
        let connecting = mine.filter(\.isConnecting).count
        last = mine.count
        peak = max(peak, mine.count)
        peakConnecting = max(peakConnecting, connecting)
        // A refused connect's socket, in CLOSE until closed, never connected: a busy machine
        // samples it where an idle one would not.
        peakEstablished = max(peakEstablished, mine.filter(\.hasConnected).count)
        samples += 1
    }

    var counts: ConnectionCounts {
        ConnectionCounts(
            service: watched.service, port: watched.port, peak: peak, final: last, peakEstablished: peakEstablished,
            peakConnecting: peakConnecting, samples: samples)
    }
}

final class Box<T>: @unchecked Sendable {
    private let lock = Condition()
    private var stored: T?
    var value: T? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
