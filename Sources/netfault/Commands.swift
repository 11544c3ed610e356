import ArgumentParser
import Foundation
import Logging
import NetFaultCore
import NetFaultKernel
import NetFaultWatchdog

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put faults on a service's traffic, under a lease that reverts itself.",
        discussion: """
        Netem faults (--delay, --loss, --duplicate, --corrupt, --reorder, --rate) go into traffic \
        control: a prio qdisc with one netem band per lease and u32 filters on the target's TCP \
        port. Connection faults (--blackhole, --reject, --reset, --hang, --loss-nft) go into an \
        nf_tables table of the lease's own (inet family: IPv4 and IPv6), which the lease's \
        watchdog creates with the owner flag, so the kernel deletes it if the watchdog dies. One \
        lease may hold both kinds (--loss 10% --reject). The watchdog removes everything at the \
        deadline or when it receives SIGTERM, SIGINT or SIGHUP. Traffic no lease matches is not \
        touched, and neither is any qdisc, nf_tables table or iptables rule netfault did not create.

        What a client sees (docs/connection-faults.md has the details):
          --blackhole  connect() times out; open connections stall
          --reject     connect() fails at once (ECONNREFUSED); open ones go on
          --reset      an open connection's next send fails (ECONNRESET)
          --hang       connect() succeeds, then no byte arrives

        A second lease with a fault of the same kind on the same port and direction is refused \
        (exit 73), naming the lease in the way.

        Examples:
          netfault apply redis --delay 100ms
          netfault apply mysql --delay 10ms --jitter 2ms --distribution normal --for 5m
          netfault apply 6380,redis --loss 20% --direction both --json
          netfault apply postgres --host 10.0.0.5 --rate 1mbit --direction from-server
          netfault apply mysql --reject --for 30s
          netfault apply redis --hang --host ::1
          netfault apply mysql --blackhole --peer 10.1.0.0/16 --peer 10.2.0.7
          netfault apply redis --loss-nft 5% --direction both
        """)

    @OptionGroup var lease: LeaseOptions

    @Option(name: .customLong("for"), help: ArgumentHelp("How long the lease lasts (default 60s, at most 24h).", valueName: "duration"))
    var duration: String = "60s"

    @Flag(help: "Print the lease as JSON.")
    var json = false

    /// Everything the user typed, parsed and validated; touches nothing.
    func request() throws -> FaultRequest { try lease.request(duration: duration) }

    func run() throws {
        try reporting {
            let request = try request()
            try requireNetAdmin()
            try requireFeatures(neededFeatures(request))
            let manager = LeaseManager(journal: try Journal())
            let applied = try manager.apply(request, executable: selfExecutable())
            if json {
                printJSON(LeaseJSON(applied))
            } else {
                print(describe(applied))
                print("revert early with: netfault revert \(applied.lease.id)")
            }
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List active leases, their faults, time left and the kernel objects they own.")

    @Flag(help: "Print the leases as JSON.")
    var json = false

    @OptionGroup var namespace: NamespaceOptions

    func run() throws {
        try reporting {
            let ns = try namespace.resolved()
            try requireNetAdmin()
            let (leases, swept, orphans) = try LeaseManager(journal: try Journal(), namespace: ns).status()
            if json {
                printJSON(StatusJSON(leases: leases.map(LeaseJSON.init), swept: swept, orphans: orphans))
                return
            }
            for id in swept { print("swept \(id): its watchdog was gone; its faults are removed") }
            if leases.isEmpty { print("no active leases") }
            for l in leases { print(describe(l)) }
            if !orphans.isEmpty {
                print("objects with netfault's marks but no lease (remove them with: netfault revert --all):")
                for o in orphans { print("  \(o)") }
            }
        }
    }
}

struct Revert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the faults of the given leases (or --all); exits 0 when none is left.",
        discussion: """
        Removes exactly the objects each lease installed and gives each device its default root \
        qdisc back once no lease uses it. Reverting a lease that is already gone is not an error.

        A lease's nf_tables table belongs to its watchdog: revert stops the watchdog, which \
        deletes the table, and waits until the kernel no longer lists it.

        --all also removes every object that carries netfault's marks (root qdisc 6e66:, an \
        ingress qdisc holding only netfault's filters, nfifb devices, inet tables named \
        netfault-*) even when the journal under /run/netfault was deleted or corrupted. Nothing \
        without those marks is touched.
        """)

    @Argument(help: ArgumentHelp("Lease ids as printed by apply and status.", valueName: "lease"))
    var leases: [String] = []

    @Flag(help: "Revert every lease.")
    var all = false

    @Flag(help: "Print what was reverted as JSON.")
    var json = false

    @OptionGroup var namespace: NamespaceOptions

    func validate() throws {
        if all == !leases.isEmpty {
            throw ValidationError(all ? "give lease ids or --all, not both" : "give lease ids to revert, or --all")
        }
        // Ids become file names under /run/netfault: a malformed one never reaches the journal.
        for id in leases where !Lease.isValidID(id) { throw ValidationError(Lease.malformedID(id)) }
    }

    func run() throws {
        try reporting {
            let ns = try namespace.resolved()
            try requireNetAdmin()
            let r = try LeaseManager(journal: try Journal(), namespace: ns).revert(ids: all ? nil : leases)
            if json {
                printJSON(["reverted": r.reverted, "not_found": r.unknown, "removed_without_lease": r.orphans])
                return
            }
            for id in r.reverted { print("reverted \(id)") }
            for id in r.unknown { print("\(id): no such lease (already reverted or expired)") }
            for o in r.orphans { print("removed without a lease: \(o)") }
            if r.reverted.isEmpty && r.unknown.isEmpty && r.orphans.isEmpty { print("no active leases") }
        }
    }
}

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check which kernel features netfault can use here, in a throw-away network namespace.")

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() throws {
        try reporting {
            var results = [FeatureResult(feature: "CAP_NET_ADMIN", ok: Capabilities.hasNetAdmin(),
                                         detail: Capabilities.hasNetAdmin() ? "held" : "missing",
                                         remedy: Capabilities.hasNetAdmin() ? nil : "run as root (sudo) or add the capability (docker --cap-add NET_ADMIN)")]
            if Capabilities.hasNetAdmin() {
                results += try probeFeatures()
                results += lossNote(results).map { [$0] } ?? []
            }
            if json {
                printJSON(results)
            } else {
                let width = results.map(\.feature.count).max() ?? 10
                for r in results {
                    let name = r.feature.padding(toLength: width, withPad: " ", startingAt: 0)
                    print("\(r.ok ? "ok  " : "MISS")  \(name)  \(r.ok ? r.detail : r.remedy ?? r.detail)")
                    if !r.ok && r.remedy != nil { print("      \(String(repeating: " ", count: width))  (\(r.detail))") }
                }
            }
        }
    }
}

/// Which random loss this kernel offers, when it is not netem's.
func lossNote(_ results: [FeatureResult]) -> FeatureResult? {
    let works = { (name: String) in results.contains { $0.feature == name && $0.ok } }
    guard !works("netem") else { return nil }
    if works("nf_tables inet") {
        return FeatureResult(feature: "random loss", ok: true,
                             detail: "only --loss-nft (nf_tables numgen): netem is missing, so --loss and the other netem faults are not available", remedy: nil)
    }
    return FeatureResult(feature: "random loss", ok: false, detail: "neither netem nor nf_tables works here",
                         remedy: "load sch_netem (--loss) or nf_tables (--loss-nft)")
}

/// The kernel features a request needs, by the names `netfault doctor` uses.
func neededFeatures(_ r: FaultRequest) -> [String] {
    (r.netem.isEmpty ? [] : ["netem", "prio", "u32"]) + (r.filter.isEmpty ? [] : ["nf_tables inet", "nf_tables owner tables", "nf_tables rules"])
}

/// Runs the feature probe in a child process that unshares its network namespace.
func probeFeatures(_ only: [String] = []) throws -> [FeatureResult] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: selfExecutable())
    p.arguments = [FeatureProbe.command] + only
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard let results = try? JSONDecoder().decode([FeatureResult].self, from: data) else {
        throw Unavailable(message: "the feature probe could not create a network namespace (CONFIG_NET_NS); netfault needs one to test the kernel safely")
    }
    return results
}

/// Fails with 69, naming what is missing, unless the kernel has every feature listed.
func requireFeatures(_ names: [String]) throws {
    guard !names.isEmpty else { return }
    let results = try probeFeatures(names)
    let missing = results.filter { !$0.ok }
    guard missing.isEmpty else {
        let lines = missing.map { "  \($0.feature): \($0.remedy ?? "") (\($0.detail))" }.joined(separator: "\n")
        var hint = "`netfault doctor` lists every feature"
        if missing.contains(where: { $0.feature == "netem" }) {
            hint = "netem is CONFIG_NET_SCH_NETEM (modprobe sch_netem); without it, --loss-nft drops at random and --blackhole, --reject, --reset, --hang work through nf_tables. " + hint
        }
        throw Unavailable(message: "this kernel lacks what these faults need:\n\(lines)\n\(hint)")
    }
}

struct WatchdogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: WatchdogProcess.command, shouldDisplay: false)
    @Argument var lease: String
    @Option(name: .customLong("ready-fd")) var readyFD: Int32?

    func run() throws {
        do { try Lease.checkID(lease) } catch { throw fail(error) }
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "netfault.watchdog")
        logger[metadataKey: "pid"] = "\(getpid())"
        let journal: Journal
        do { journal = try Journal() } catch { throw fail(error) }
        throw ExitCode(WatchdogProcess.run(leaseID: lease, journal: journal, logger: logger, readyFD: readyFD))
    }
}

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: FeatureProbe.command, shouldDisplay: false)
    @Argument var features: [String] = []

    func run() throws {
        guard FeatureProbe.enterThrowawayNamespace() else { throw ExitCode(ExitStatus.unavailable) }
        printJSON(FeatureProbe.runInCurrentNamespace(only: features.isEmpty ? nil : Set(features)))
    }
}
