import ArgumentParser
import FoundationEssentials
import Glibc
import Logging
import NetFaultCore
import NetFaultKernel
import NetFaultCommand
import NetFaultLeases

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        _superCommandName: NetFault.superCommandName,
        abstract: "Put faults on a service's traffic, under a lease that reverts itself.",
        discussion: """
            Netem faults (--delay, --loss, --duplicate, --corrupt, --reorder, --rate) go into traffic \
            control: a prio qdisc with one netem band per lease. Where nf_tables works, leaving packets \
            reach the band through a rule in the lease's nf_tables table (meta priority set); u32 \
            filters on the target's TCP port steer arriving packets (through an ifb device) and, on \
            kernels without nf_tables, all of them. Connection faults (--blackhole, --reject, --reset, \
            --hang, --loss-nft) are rules in that table (inet family: IPv4 and IPv6). apply creates the \
            table with the owner flag and hands its socket to the lease's watchdog, so the kernel \
            deletes the table when the watchdog dies. One lease may hold both kinds (--loss 10% \
            --reject). The table's rules match through a set whose elements expire at the deadline, \
            so the kernel ends those faults on time even if the watchdog cannot; the watchdog removes \
            everything at the deadline or when it receives SIGTERM, SIGINT or SIGHUP. Traffic no \
            lease matches is not touched, and neither is any qdisc, nf_tables table or iptables rule \
            netfault did not create.

            What a client sees (docs/connection-faults.md has the details):
              --blackhole  connect() times out; open connections stall
              --reject     connect() fails at once (ECONNREFUSED); open ones go on
              --reset      an open connection's next send fails (ECONNRESET)
              --hang       connect() succeeds, then no byte arrives
            Over each connection's life, on its own clock from its SYN (connections open before the \
            lease are left alone):
              --reset-after 2s   the first packet after 2 s gets a reset (ECONNRESET)
              --hang-after 2s    nothing passes after 2 s (the client's reads time out)
              --limit-data 4096  the client is reset once the server has sent 4 KB (headers included)
              --slice 100        the server sends segments of at most 100 bytes (the SYN's MSS)
              --hang --reset-after 2s   no data, then a reset at the first packet after 2 s
            --connections 30% (or every:3) gives the lease's faults to only that share of new \
            connections, each drawn once at its SYN and remembered in the lease's table; connections \
            open before the lease are left alone. Netem faults on a share need nf_tables to steer \
            the drawn connections' leaving packets (exit 69 without it), so not a remote server's \
            responses. A mix (30%:reject,10%:hang) takes connection faults only.

            A second lease with a fault of the same kind on the same port and direction is refused \
            (exit 73), naming the lease in the way.

            Without --foreground, apply returns once the faults are in force and the watchdog holds \
            the lease. With --foreground it holds the lease itself until the deadline or SIGTERM, \
            then reverts and exits 0: the main process of a sidecar container, which `docker stop` \
            ends cleanly (docs/containers.md).

            Examples:
              netfault apply redis --delay 100ms
              netfault apply mysql --delay 10ms --jitter 2ms --distribution normal --for 5m
              netfault apply 6380,redis --loss 20% --direction both --json
              netfault apply postgres --host 10.0.0.5 --rate 1mbit --direction from-server
              netfault apply mysql --reject --for 30s
              netfault apply redis --hang --host ::1
              netfault apply mysql --blackhole --peer 10.1.0.0/16 --peer 10.2.0.7
              netfault apply redis --loss-nft 5% --direction both
              netfault apply redis --reject --connections 30% --for 5m
              netfault apply redis --delay 200ms --connections 50% --direction both
              netfault apply redis --reset-after 2s --for 5m
              netfault apply redis --limit-data 64KiB --limit-data-action close
              netfault apply mysql --hang --uid 65534 --for 10m
              netfault apply mysql --blackhole --for 10m --foreground
            """)

    @OptionGroup var lease: LeaseOptions

    @Option(
        name: .customLong("for"),
        help: ArgumentHelp("How long the lease lasts (at most 24h).", valueName: "duration"))
    var duration: String = "60s"

    @Flag(help: "Print the lease as JSON.")
    var json = false

    @Flag(
        help:
            """
            Stay in the foreground holding the lease until its deadline or SIGTERM, SIGINT or SIGHUP, then revert and \
            exit 0 (a sidecar container's main process).
            """
    )
    var foreground = false

    @Flag(
        name: .customLong("dry-run"),
        help: "Print the tc, ip and nft commands that make the same change, and change nothing.")
    var dryRun = false

    /// Everything the user typed, parsed and validated; touches nothing.
    func request() throws -> FaultRequest { try lease.request(duration: duration) }

    func run() throws {
        // Before anything else, so a SIGTERM during apply waits its turn instead of killing
        // this process with half a lease (which its watchdog would then revert).
        if foreground { WatchdogProcess.blockRevertSignals() }
        try reporting {
            let request = try request()
            if dryRun {
                let journal = try Journal()
                let policy = leasePolicy(for: request, journal: journal)
                let preview = try LeaseManager(journal: journal).preview(request, policy: policy)
                try printPreview(preview, request, json: json)
                return
            }
            try requireNetAdmin()
            let journal = try Journal()
            try requireFeatures(neededFeatures(request), journal: journal)
            let policy = leasePolicy(for: request, journal: journal)
            let manager = LeaseManager(journal: journal)
            // In the foreground this process controls the lease: if it dies, even by SIGKILL,
            // the watchdog reverts within a second.
            let applied = try manager.apply(
                request, policy: policy, executable: selfExecutable(),
                controller: foreground ? ProcessIdentity.current() : nil)
            let lease = applied.lease
            let warnings = warn(leaseWarnings(request, device: lease.device, server: lease.server))
            if json {
                var out = LeaseJSON(applied)
                out.warnings = warnings
                printJSON(out)
            } else {
                print(describe(applied))
                print(
                    foreground
                        ? "holding it until \(applied.lease.deadline) or SIGTERM"
                        : "revert early with: netfault revert \(applied.lease.id)")
            }
            guard foreground else { return }
            fflush(nil)  // a pipe (docker logs) must see the lease now, not at exit
            let signal = WatchdogProcess.waitForRevertSignal(timeLeft: applied.lease.timeLeft)
            try manager.revert(id: applied.lease.id)
            note("lease \(applied.lease.id) reverted (\(signal.map { "signal \($0)" } ?? "deadline"))")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        _superCommandName: NetFault.superCommandName,
        abstract: "List active leases, their faults, time left and the kernel objects they own.",
        discussion: """
            Each lease's netem qdiscs and nf_tables rules are read back from the kernel, with the \
            packets they matched. Like every command, status first reverts the leases whose \
            watchdog is gone (printed as swept) and removes netfault's objects that no live \
            netfault owns (removed without a lease); inet tables named netfault-* that no lease \
            accounts for and no process owns are listed for `netfault revert --all`. What other \
            netfaults hold in this namespace (another journal or container) is listed and left alone.
            """)

    @Flag(help: "Print the leases as JSON.")
    var json = false

    @OptionGroup var namespace: NamespaceOptions

    @Flag(
        name: .customLong("all-namespaces"),
        help: "List the leases of every network namespace, not only this one's (or --netns's).")
    var allNamespaces = false

    func run() throws {
        try reporting {
            let ns = try namespace.resolved()
            try requireNetAdmin()
            let s = try LeaseManager(journal: try Journal(), namespace: ns).status(allNamespaces: allNamespaces)
            if json {
                printJSON(
                    StatusJSON(
                        leases: s.leases.map(LeaseJSON.init), swept: s.swept.map(\.id), removed: s.removed,
                        orphans: s.orphans, others: s.others))
                return
            }
            for w in s.swept { print("swept \(w.id): \(w.reason); its faults are removed") }
            for o in s.removed { print("removed without a lease: \(o)") }
            if s.leases.isEmpty { print("no active leases") }
            for l in s.leases { print(describe(l)) }
            if !s.orphans.isEmpty {
                print("objects with netfault's marks but no lease (remove them with: netfault revert --all):")
                for o in s.orphans { print("  \(o)") }
            }
            if !s.others.isEmpty {
                print("held by other netfaults in this network namespace (another journal or container):")
                for o in s.others { print("  \(o)") }
            }
        }
    }
}

struct Revert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revert",
        _superCommandName: NetFault.superCommandName,
        abstract: "Remove the faults of the given leases (or --all); exits 0 when none is left.",
        discussion: """
            Removes exactly the objects each lease installed and gives each device its default root \
            qdisc back once no lease uses it. Reverting a lease that is already gone is not an error.

            A lease's nf_tables table belongs to its watchdog: revert stops the watchdog, which \
            deletes the table, and waits until the kernel no longer lists it.

            For each lease it says how many packets its faults matched and, with --connections, how \
            many new connections it drew into its faults and left alone, and with a mix into each \
            group (--json: matched_packets, connections_drawn, connections_drawn_groups).

            --all also removes every object that carries netfault's marks (root qdisc 6e66:, an \
            ingress qdisc holding only netfault's filters, nfifb devices, inet tables named \
            netfault-*) even when the journal under /run/netfault was deleted or corrupted. Nothing \
            without those marks is touched.
            """)

    @Argument(help: ArgumentHelp("Lease ids as printed by apply and status.", valueName: "lease"))
    var leases: [String] = []

    @Flag(help: "Revert every lease of this network namespace (or --netns's).")
    var all = false

    @Flag(name: .customLong("all-namespaces"), help: "With --all: every lease, whatever its namespace.")
    var allNamespaces = false

    @Flag(help: "Print what was reverted as JSON.")
    var json = false

    @OptionGroup var namespace: NamespaceOptions

    func validate() throws {
        if all == !leases.isEmpty {
            throw ValidationError(all ? "give lease ids or --all, not both" : "give lease ids to revert, or --all")
        }
        if allNamespaces && !all { throw ValidationError("--all-namespaces goes with --all") }
        // Ids become file names under /run/netfault: a malformed one never reaches the journal.
        for id in leases where !Lease.isValidID(id) { throw ValidationError(Lease.malformedID(id)) }
    }

    func run() throws {
        try reporting {
            let ns = try namespace.resolved()
            try requireNetAdmin()
            let r = try LeaseManager(journal: try Journal(), namespace: ns)
                .revert(ids: all ? nil : leases, allNamespaces: allNamespaces)
            if json {
                struct RevertJSON: Encodable {
                    let reverted: [String]; let not_found: [String]; let removed_without_lease: [String]
                    let swept: [String]
                    /// Packets each reverted lease matched: 0 means its faults touched no traffic.
                    let matched_packets: [String: UInt64]
                    /// With --connections: the new connections each lease drew into its faults and out.
                    let connections_drawn: [String: [String: UInt64]]
                    /// With a mix: the connections each group ("30%:reject") of each lease drew.
                    let connections_drawn_groups: [String: [String: UInt64]]
                }
                printJSON(
                    RevertJSON(
                        reverted: r.reverted, not_found: r.unknown, removed_without_lease: r.orphans,
                        swept: r.swept.map(\.id), matched_packets: r.matched,
                        connections_drawn: r.drawn.mapValues { ["in": $0.in, "out": $0.out] },
                        connections_drawn_groups: r.drawnGroups.mapValues(drawnGroupsJSON)))
                return
            }
            for w in r.swept { print("swept \(w.id): \(w.reason); its faults are removed") }
            for id in r.reverted {
                let drawn = r.drawn[id].map { drawnText($0, groups: r.drawnGroups[id]) }
                let counts = [r.matched[id].map(matchedText), drawn].compactMap { $0 }
                print("reverted \(id)" + (counts.isEmpty ? "" : " (\(counts.joined(separator: "; ")))"))
            }
            for id in r.unknown { print("\(id): no such lease (already reverted or expired)") }
            for o in r.orphans { print("removed without a lease: \(o)") }
            if r.reverted.isEmpty && r.unknown.isEmpty && r.orphans.isEmpty { print("no active leases") }
        }
    }
}

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        _superCommandName: NetFault.superCommandName,
        abstract: "Check which kernel features netfault can use here.",
        discussion: """
            Tries each feature for real without touching traffic: qdiscs and filters on scratch \
            devices of its own (nfprobe*, down, removed at once), nf_tables rules in a dormant table \
            owned by its socket. It needs CAP_NET_ADMIN and nothing more, so it works in a container \
            started with --cap-add NET_ADMIN. What works is remembered until the next boot \
            (features.json in the state directory), so apply and run do not probe again.
            """)

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() throws {
        try reporting {
            var results = [
                FeatureResult(
                    feature: "CAP_NET_ADMIN", ok: Capabilities.hasNetAdmin(),
                    detail: Capabilities.hasNetAdmin() ? "held" : "missing",
                    remedy: Capabilities.hasNetAdmin()
                        ? nil : "run as root (sudo) or add the capability (docker --cap-add NET_ADMIN)")
            ]
            if Capabilities.hasNetAdmin() {
                // Like every command, it first cleans up after dead watchdogs (quietly: its
                // output is the feature list).
                _ = try? LeaseManager(journal: try Journal()).sweep()
                let probed = FeatureProbe.run()
                // Refreshes what apply and run trust on this boot.
                if let journal = try? Journal() {
                    var cache = ProbeCache.load(from: journal.directory)
                    cache.record(probed)
                    cache.save(to: journal.directory)
                }
                results += probed
                results += lossNote(results).map { [$0] } ?? []
                results.append(deadlineNote(results))
            }
            // Needs no capability: the ioctls only read.
            results += ((try? SegmentationOffloads.readAll()) ?? []).map {
                FeatureResult(feature: "offloads \($0.device)", ok: true, detail: $0.summary, remedy: nil)
            }
            if json {
                printJSON(results)
            } else {
                let width = results.map(\.feature.count).max() ?? 10
                for r in results {
                    let name = r.feature + String(repeating: " ", count: width - r.feature.count)
                    print("\(r.ok ? "ok  " : "MISS")  \(name)  \(r.ok ? r.detail : r.remedy ?? r.detail)")
                    if !r.ok && r.remedy != nil {
                        print("      \(String(repeating: " ", count: width))  (\(r.detail))")
                    }
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
        return FeatureResult(
            feature: "random loss", ok: true,
            detail:
                """
                only --loss-nft (nf_tables numgen): netem is missing, so --loss and the other netem faults are not \
                available
                """,
            remedy: nil)
    }
    return FeatureResult(
        feature: "random loss", ok: false, detail: "neither netem nor nf_tables works here",
        remedy: "load sch_netem (--loss) or nf_tables (--loss-nft)")
}

/// "matched 12 packets", or the warning that the faults touched nothing.
func matchedText(_ n: UInt64) -> String {
    n == 0
        ? "matched no packet: nothing reached the faults (see \"A fault that matches nothing\" in docs/safety.md)"
        : "matched \(n) packet\(n == 1 ? "" : "s")"
}

/// Who ends faults at their deadline here: the kernel where nf_tables works, else the watchdog.
func deadlineNote(_ results: [FeatureResult]) -> FeatureResult {
    let nft = FeatureProbe.filterFeatures.allSatisfy { f in results.contains { $0.feature == f && $0.ok } }
    let detail =
        nft
        ? """
        kernel: nf_tables set timeouts end connection faults and netem on leaving traffic on time, even if the \
        watchdog is stopped or killed; netem on arriving traffic (ifb) is ended by the watchdog
        """
        : """
        watchdog: without nf_tables, netem bands are steered by u32 filters that only the watchdog (or the next \
        netfault command) removes
        """
    return FeatureResult(feature: "deadline enforced by", ok: true, detail: detail, remedy: nil)
}
