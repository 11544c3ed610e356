import FoundationEssentials

// The fault matrix's results: what `netfault matrix` records for each cell, written as JSON
// (this model, Codable), JUnit XML, an HTML page with an SVG chart, and a terminal table.
// Pure data: the runner fills it in, the writers only read it.

/// One run of `netfault matrix`, or several merged (cells from different kernels, e.g. the
/// connection faults in a network namespace here and the netem faults in user-mode Linux).
public struct MatrixReport: Codable, Sendable, Equatable {
    public var scenario: String
    /// When the run started (RFC 3339, UTC).
    public var started: String
    /// Every cell in run order, baselines included.
    public var cells: [CellResult]
    /// Rows where the kernel and proxy backends ended differently.
    public var disagreements: [Disagreement]

    public init(scenario: String, started: String, cells: [CellResult], disagreements: [Disagreement]) {
        self.scenario = scenario; self.started = started; self.cells = cells; self.disagreements = disagreements
    }
}

public enum CellState: String, Codable, Sendable {
    /// The command exited 0.
    case passed
    /// It exited non-zero or was killed at the cell's timeout.
    case failed
    /// Not run here, with a reason (no netem in this kernel, no proxy equivalent, ...).
    case skipped
    /// netfault could not put the fault in or take it out: the cell says nothing about the application.
    case error
}

/// One command run: a baseline (no fault) or a fault through one backend.
public struct CellResult: Codable, Sendable, Equatable {
    /// "SERVICE/FAULT/BACKEND", or "baseline/BACKEND": what `--only` takes.
    public var id: String
    /// nil for a baseline.
    public var service: String?
    /// nil for a baseline.
    public var fault: String?
    /// "kernel" or "proxy".
    public var backend: String
    /// The fault in netfault's option words, e.g. ["--delay", "10ms"]; empty for a baseline.
    public var faultWords: [String]
    /// e.g. "after 1s, on 1s every 4s"; nil when the fault is in force for the whole run.
    public var schedule: String?
    public var state: CellState
    /// Why it was skipped, or what went wrong (state error).
    public var reason: String?
    /// How the run ended, in words: "passed", "failed (exit 1), connected then failed",
    /// "failed (exit 1), connect never completed", "timed out after 120s". Compared across backends.
    public var outcome: String
    public var exitStatus: Int32?
    /// Wall time of the command, seconds.
    public var seconds: Double?
    /// The same backend's baseline on the same kernel, seconds.
    public var baselineSeconds: Double?
    /// The last lines of the command's output (stdout and stderr together).
    public var outputTail: String
    /// Packets the lease's rules matched (kernel backend).
    public var packetsMatched: UInt64?
    /// Where the backend only approximates the fault (proxy backend).
    public var notes: [String]
    /// TCP connections the command's processes held to each service, sampled every 100 ms.
    public var connections: [ConnectionCounts]
    /// The command run again after the fault was taken out (or the scenario's `recover:`).
    public var recovery: Recovery?
    /// `uname -r` plus where: "6.1.0-28-amd64", "6.1.158 (user-mode Linux)".
    public var kernel: String
    /// Whether the cell's randomness can be replayed, and how.
    public var randomness: String
    /// Numbers the command wrote to $NETFAULT_MATRIX_METRICS (e.g. "round_trips.mysql").
    public var metrics: [String: Double]
    /// For a delay: the command's round trips to the service (metrics) times the added delay, seconds.
    public var expectedGrowthSeconds: Double?
    /// The command line that runs this cell again, alone.
    public var rerun: String
    /// Whether a connection of the command to the faulted service completed (true), only
    /// tried (false: SYN-SENT, never ESTABLISHED), or none was seen (nil).
    public var connected: Bool?
    /// Error words found in a failed run's output ("connection refused", "timeout", ...).
    public var symptoms: [String]?

    public init(
        id: String, service: String?, fault: String?, backend: String, faultWords: [String], schedule: String?,
        state: CellState, reason: String?, outcome: String, exitStatus: Int32?, seconds: Double?,
        baselineSeconds: Double?, outputTail: String, packetsMatched: UInt64?, notes: [String],
        connections: [ConnectionCounts], recovery: Recovery?, kernel: String, randomness: String,
        metrics: [String: Double], expectedGrowthSeconds: Double?, rerun: String, connected: Bool? = nil,
        symptoms: [String]? = nil
    ) {
        self.id = id; self.service = service; self.fault = fault; self.backend = backend
        self.faultWords = faultWords; self.schedule = schedule; self.state = state; self.reason = reason
        self.outcome = outcome; self.exitStatus = exitStatus; self.seconds = seconds
        self.baselineSeconds = baselineSeconds; self.outputTail = outputTail; self.packetsMatched = packetsMatched
        self.notes = notes; self.connections = connections; self.recovery = recovery; self.kernel = kernel
        self.randomness = randomness; self.metrics = metrics; self.expectedGrowthSeconds = expectedGrowthSeconds
        self.rerun = rerun; self.connected = connected; self.symptoms = symptoms
    }

    /// Whether two cells of one row (kernel and proxy) ended the same way: the same state
    /// and exit status, and, when both saw the command's connections, the same answer to
    /// "did one complete?". The words in the output are shown, not compared: a library's
    /// message varies with timing where its behaviour does not.
    public func endedLike(_ other: CellResult) -> Bool {
        guard state == other.state, exitStatus == other.exitStatus else { return false }
        guard let a = connected, let b = other.connected else { return true }
        return a == b
    }

    public var isBaseline: Bool { service == nil }
    /// seconds - baselineSeconds, when both are known.
    public var growthSeconds: Double? {
        guard let seconds, let baselineSeconds else { return nil }
        return seconds - baselineSeconds
    }
}

public struct ConnectionCounts: Codable, Sendable, Equatable {
    public var service: String
    /// The port the command connects to: the server's (kernel) or the proxy's listen port.
    public var port: UInt16
    /// Most connections held at one sample (any TCP state but LISTEN).
    public var peak: Int
    /// Held at the last sample before the command ended.
    public var final: Int
    /// Most at one sample in ESTABLISHED (or later: the connection completed).
    public var peakEstablished: Int
    /// Most at one sample in SYN-SENT (connects that had not completed).
    public var peakConnecting: Int
    public var samples: Int

    public init(
        service: String, port: UInt16, peak: Int, final: Int, peakEstablished: Int, peakConnecting: Int,
        samples: Int
    ) {
        self.service = service; self.port = port; self.peak = peak; self.final = final
        self.peakEstablished = peakEstablished; self.peakConnecting = peakConnecting; self.samples = samples
    }
}

public struct Recovery: Codable, Sendable, Equatable {
    public var command: String
    public var passed: Bool
    public var exitStatus: Int32?
    public var seconds: Double?
    public var outputTail: String

    public init(command: String, passed: Bool, exitStatus: Int32?, seconds: Double?, outputTail: String) {
        self.command = command; self.passed = passed; self.exitStatus = exitStatus; self.seconds = seconds
        self.outputTail = outputTail
    }
}

/// A service and fault whose kernel and proxy cells ended differently.
public struct Disagreement: Codable, Sendable, Equatable {
    public var service: String
    public var fault: String
    public var kernel: String
    public var proxy: String

    public init(service: String, fault: String, kernel: String, proxy: String) {
        self.service = service; self.fault = fault; self.kernel = kernel; self.proxy = proxy
    }
}
