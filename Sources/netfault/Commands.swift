import ArgumentParser
import Foundation
import Logging
import NetFaultCore
import NetFaultKernel
import NetFaultWatchdog

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put netem faults on a service's traffic, under a lease that reverts itself.",
        discussion: """
        The faults go into the kernel (a prio qdisc with one netem band per lease and u32 filters \
        on the target's TCP port). A detached watchdog removes them at the deadline or when it \
        receives SIGTERM, SIGINT or SIGHUP. Traffic no lease matches is not touched.

        Examples:
          netfault apply redis --delay 100ms
          netfault apply mysql --delay 10ms --jitter 2ms --distribution normal --for 5m
          netfault apply 6380,redis --loss 20% --direction both --json
          netfault apply postgres --host 10.0.0.5 --rate 1mbit --direction from-server
        """)

    @OptionGroup var where_: TargetOptions
    @OptionGroup var faults: NetemOptions
    @OptionGroup var namespace: NamespaceOptions

    @Option(name: .customLong("for"), help: ArgumentHelp("How long the lease lasts (default 60s, at most 24h).", valueName: "duration"))
    var duration: String = "60s"

    @Flag(help: "Print the lease as JSON.")
    var json = false

    /// Everything the user typed, parsed and validated; touches nothing.
    func request() throws -> FaultRequest { try faultRequest(where_, faults, duration, namespace) }

    func run() throws {
        try reporting {
            let request = try request()
            try requireNetAdmin()
            try requireFeatures(["netem", "prio", "u32"])
            let manager = LeaseManager(journal: try Journal())
            let (lease, installed) = try manager.apply(request, executable: selfExecutable())
            if json {
                printJSON(LeaseJSON(lease, installed: installed, watchdogAlive: true))
            } else {
                print(describe(lease, installed: installed, watchdogAlive: true))
                print("revert early with: netfault revert \(lease.id)")
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
                printJSON(StatusJSON(leases: leases.map { LeaseJSON($0.lease, installed: $0.installed, watchdogAlive: $0.watchdogAlive) },
                                     swept: swept, orphans: orphans))
                return
            }
            for id in swept { print("swept \(id): its watchdog was gone; its faults are removed") }
            if leases.isEmpty { print("no active leases") }
            for l in leases { print(describe(l.lease, installed: l.installed, watchdogAlive: l.watchdogAlive)) }
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

        --all also removes every object that carries netfault's marks (root qdisc 6e66:, an \
        ingress qdisc holding only netfault's filters, nfifb devices) even when the journal under \
        /run/netfault was deleted or corrupted. Nothing without those marks is touched.
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
            if Capabilities.hasNetAdmin() { results += try probeFeatures() }
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

/// A lease request from the options apply and run share; parses and validates, touches nothing.
func faultRequest(_ where_: TargetOptions, _ faults: NetemOptions, _ duration: String, _ namespace: NamespaceOptions) throws -> FaultRequest {
    let (target, direction) = try where_.parsed()
    let spec = try faults.spec()
    let d = try Duration.parse(duration, what: "--for")
    try LeaseLimits.validate(d)
    return FaultRequest(target: target, direction: direction, netem: spec, device: where_.iface, duration: d,
                        netns: try namespace.resolved())
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
    let missing = try probeFeatures(names).filter { !$0.ok }
    guard missing.isEmpty else {
        let lines = missing.map { "  \($0.feature): \($0.remedy ?? "") (\($0.detail))" }.joined(separator: "\n")
        throw Unavailable(message: "this kernel lacks what these faults need:\n\(lines)\nnetem is CONFIG_NET_SCH_NETEM (modprobe sch_netem); `netfault doctor` lists every feature")
    }
}

struct WatchdogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: WatchdogProcess.command, shouldDisplay: false)
    @Argument var lease: String

    func run() throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "netfault.watchdog")
        logger[metadataKey: "pid"] = "\(getpid())"
        let journal: Journal
        do { journal = try Journal() } catch { throw fail(error) }
        throw ExitCode(WatchdogProcess.run(leaseID: lease, journal: journal, logger: logger))
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
