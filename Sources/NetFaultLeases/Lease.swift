import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

/// One lease as the journal records it: written before the kernel is changed, so a revert
/// always knows what to look for.
public struct Lease: Codable, Sendable, Equatable {
    public let id: String
    public let target: Target
    public let direction: Direction
    public let netem: NetemSpec
    /// The nf_tables faults; nil in entries written before they existed.
    public let filter: FilterSpec?
    /// Address blocks that narrow the faults (`--peer`); nil or empty: every address.
    public let peers: [IPPrefix]?
    /// The device the netem faults are on; empty for a lease with netfilter faults only.
    public let device: String
    public let plan: LeasePlan
    public let created: Date
    /// The deadline as a person reads it; the lease ends by `monotonicDeadline` when it has one.
    public let deadline: Date
    /// The deadline on CLOCK_MONOTONIC (nanoseconds) of boot `bootID`: what the watchdog waits
    /// for and status counts down to, so a clock step changes neither. nil in entries written
    /// before (the wall clock then decides).
    public var monotonicDeadline: UInt64?
    public var bootID: String?
    /// The watchdog, by pid and start time: a pid alone could be reused by another process.
    public var watchdog: ProcessIdentity?
    /// The network namespace the faults are in; nil: the host's (netfault's own).
    public var netns: NetworkNamespace?
    /// A process whose life bounds the lease (`netfault run`, `apply --foreground`): when it
    /// dies, the watchdog reverts.
    public var controller: ProcessIdentity?
    /// Where the lease is in its life; nil in entries written before states (installed).
    public var state: State?
    /// The apply or run that installs the lease: if it dies before the state is `installed`,
    /// the watchdog reverts the partial install.
    public var installer: ProcessIdentity?

    /// journalled → installed → reverting. Each is written before the step it names is taken,
    /// so a crash at any point leaves an entry that says what to undo. `watchdogStarted` is
    /// only read: entries written by earlier versions may carry it.
    public enum State: String, Codable, Sendable {
        case journalled
        case watchdogStarted = "watchdog-started"
        case installed
        case reverting
    }

    /// Whether a half install is still possible (the installer's death must then be watched).
    public var installing: Bool { state == .journalled || state == .watchdogStarted }
    /// Where the server is; nil in entries written before it was decided (remote).
    public var server: ServerLocation?

    public init(
        id: String, target: Target, direction: Direction, netem: NetemSpec, filter: FilterSpec? = nil,
        peers: [IPPrefix]? = nil, device: String, plan: LeasePlan, created: Date, deadline: Date,
        watchdog: ProcessIdentity? = nil, controller: ProcessIdentity? = nil, netns: NetworkNamespace? = nil,
        server: ServerLocation? = nil, state: State? = nil, installer: ProcessIdentity? = nil
    ) {
        self.id = id; self.target = target; self.direction = direction; self.netem = netem
        self.filter = filter; self.peers = peers
        self.device = device; self.plan = plan; self.created = created; self.deadline = deadline
        self.watchdog = watchdog
        self.controller = controller
        self.netns = netns
        self.server = server
        self.state = state
        self.installer = installer
    }

    public static func newID() -> String {
        "nf-" + UInt32.random(in: 0..<0x100_0000).padded(6, radix: 16)
    }

    /// Whether `id` has the form newID makes: "nf-" and six lowercase hex digits. Ids become
    /// file names in the journal, so anything else ("../../x", "a/b") must never reach a path.
    public static func isValidID(_ id: String) -> Bool {
        let u = Array(id.utf8)
        guard u.count == 9, u.starts(with: Array("nf-".utf8)) else { return false }
        return u[3...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Refuses a malformed id with a message that shows the expected form.
    public static func checkID(_ id: String) throws {
        guard isValidID(id) else { throw InputError(malformedID(id)) }
    }

    public static func malformedID(_ id: String) -> String {
        "'\(id)' is not a lease id: ids look like nf-84ac52 (nf- and six hex digits), as apply and status print them"
    }

    /// Every fault of the lease, netem's then netfilter's: "delay 100ms, reject".
    public var summary: String {
        [
            netem.isEmpty ? nil : netem.summary, filter.flatMap { $0.isEmpty ? nil : $0.summary },
            filter?.scope.map { "only \($0)'s connections" }
        ].compactMap { $0 }.joined(separator: ", ")
    }

    public func timeLeft() -> TimeInterval { max(0, -overdue()) }

    /// Seconds since the deadline passed; negative while it is ahead. On this boot's monotonic
    /// clock when the entry records it, else on the wall clock.
    public func overdue() -> TimeInterval {
        if let m = monotonicDeadline, bootID != nil, bootID == MonotonicClock.bootID {
            return (Double(MonotonicClock.nanoseconds()) - Double(m)) / 1e9
        }
        return -deadline.timeIntervalSinceNow
    }

    /// Records the deadline `seconds` from now on this boot's monotonic clock.
    public mutating func setMonotonicDeadline(in seconds: TimeInterval) {
        monotonicDeadline = MonotonicClock.nanoseconds() + UInt64(max(0, seconds) * 1e9)
        bootID = MonotonicClock.bootID
    }
}

/// A process, told apart from a later one that reuses its pid by its start time.
public struct ProcessIdentity: Codable, Sendable, Equatable {
    public let pid: Int32
    public let startTime: UInt64

    /// Field 22 of /proc/PID/stat (clock ticks since boot), read after the command name,
    /// which may itself hold spaces or parentheses.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
            let text = String(data: data, encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // A zombie has released its files (and its netlink sockets): it counts as gone, which
        // matters where PID 1 does not reap (a container's shell).
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return UInt64(fields[19])
    }

    public static func current() -> ProcessIdentity? { of(pid: getpid()) }

    /// Alive and the same process. Decided by /proc/PID/stat, which is valid from fork on;
    /// /proc/PID/cmdline is empty for a moment during exec, which once made a starting
    /// watchdog look dead to a concurrent sweep.
    public var isAlive: Bool { Self.startTime(of: pid) == startTime }

    public init(pid: Int32, startTime: UInt64) { self.pid = pid; self.startTime = startTime }

    /// Whether `pid` is a netfault watchdog of the journal in `directory` (by its command line,
    /// and the state directory it inherited).
    public static func isWatchdog(pid: Int32, of directory: URL) -> Bool {
        guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
            cmdline.split(separator: 0).dropFirst().first.map({ Array($0) == Array(WatchdogProcess.command.utf8) })
                == true,
            let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ")
        else { return false }
        var env: [String: String] = [:]
        for entry in environ.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            if let eq = text.firstIndex(of: "=") { env[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
        }
        return Journal.directory(environment: env).path == directory.path
    }

    /// The identity of a child just started; nil if it already exited.
    public static func of(pid: Int32) -> ProcessIdentity? {
        startTime(of: pid).map { ProcessIdentity(pid: pid, startTime: $0) }
    }
}
