import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel
import NetFaultCommand
import NetFaultLeases

/// The fault parameters as strings in the units a person types ("100ms", "5%"), for JSON.
func faultFields(_ s: NetemSpec) -> [String: String] {
    var f: [String: String] = [:]
    f["delay"] = s.delay?.description
    f["jitter"] = s.jitter?.description
    f["delay_correlation"] = s.delayCorrelation?.description
    f["distribution"] = s.distribution?.rawValue
    f["loss"] = s.loss?.description
    f["loss_correlation"] = s.lossCorrelation?.description
    f["duplicate"] = s.duplicate?.description
    f["corrupt"] = s.corrupt?.description
    f["reorder"] = s.reorder?.description
    f["gap"] = s.gap.map(String.init)
    f["rate"] = s.rate?.description
    f["limit"] = s.limit.map(String.init)
    return f
}

struct InstalledJSON: Encodable {
    let device: String
    let band: Int
    let qdisc: String
    let filters: Int
    /// What the kernel holds, read back after the change.
    let faults: [String: String]?
}

struct RuleJSON: Encodable {
    let table: String
    let chain: String
    let handle: UInt64
    let rule: String
    let comment: String?
    /// Packets the rule has hit so far (its counter).
    let packets: UInt64
    let bytes: UInt64
}

/// The netfilter fault parameters as typed, for JSON.
func filterFields(_ f: FilterSpec?) -> [String: String] {
    var d: [String: String] = [:]
    d["action"] = f?.action?.rawValue
    d["loss_nft"] = f?.loss?.description
    d["connections"] = f?.connections?.description ?? f?.mix?.description
    // --uid, --cgroup, run --scope command: "uid 65534", "cgroup /netfault-run-4242".
    d["scope"] = f?.scope?.description
    return d
}

struct LeaseJSON: Encodable {
    let lease: String
    let target: String
    let ports: [Int]
    let host: String?
    let direction: String
    /// Where the server is: local (requests caught arriving) or remote (caught leaving).
    let server: String
    let device: String
    /// The network namespace, when not netfault's own ("NAME" or "pid PID").
    let netns: String?
    let requested: [String: String]
    let requested_netfilter: [String: String]
    let peers: [String]
    let created: String
    let deadline: String
    let seconds_left: Int
    let watchdog_pid: Int?
    let watchdog_alive: Bool
    let installed: [InstalledJSON]
    /// The nf_tables table, read back; nil when the lease has none.
    let table: String?
    /// Whether the lease's table is in the kernel (false: it is missing).
    let table_present: Bool?
    let rules: [RuleJSON]
    /// "kernel": nf_tables expires the lease's set at the deadline, whatever becomes of the
    /// watchdog; "watchdog": only the watchdog (or the next netfault command) ends the faults.
    let deadline_enforced_by: String
    /// Packets the lease's faults have matched so far; absent when nothing was read back.
    let packets_matched: UInt64?
    /// With --connections: new connections drawn into the faults, and left alone.
    let connections_drawn_in: UInt64?
    let connections_drawn_out: UInt64?
    /// With a mix: the connections each group drew, by the group ("30%:reject").
    let connections_drawn_groups: [String: UInt64]?
    /// Why the kernel objects were not read back; absent when they were.
    let not_read_back: String?
    /// What apply printed on stderr as warnings (the faults are in force all the same); absent
    /// from status.
    var warnings: [String]?

    init(_ status: LeaseStatus) {
        let lease = status.lease, installed = status.installed, watchdogAlive = status.watchdogAlive
        self.lease = lease.id
        target = lease.target.name
        ports = lease.target.ports.map(Int.init)
        host = lease.target.host?.description
        direction = lease.direction.rawValue
        server = (lease.server ?? .remote).rawValue
        device = lease.device
        netns = lease.netns?.label
        requested = faultFields(lease.netem)
        requested_netfilter = filterFields(lease.filter)
        peers = (lease.peers ?? []).map(\.description)
        created = lease.created.formatted(.iso8601)
        deadline = lease.deadline.formatted(.iso8601)
        seconds_left = Int(lease.timeLeft().rounded(.up))
        watchdog_pid = lease.watchdog.map { Int($0.pid) }
        watchdog_alive = watchdogAlive
        self.installed = installed.map {
            InstalledJSON(
                device: $0.device, band: Int($0.band), qdisc: $0.netemHandle, filters: $0.filters,
                faults: $0.netem.map(faultFields))
        }
        let tableName = lease.plan.filter?.table
        table = tableName
        table_present = status.notReadBack == nil ? tableName.map { _ in status.rules != nil } : nil
        not_read_back = status.notReadBack
        deadline_enforced_by = lease.plan.enforcement.rawValue
        packets_matched = status.packetsMatched
        connections_drawn_in = status.connectionsDrawn?.in
        connections_drawn_out = status.connectionsDrawn?.out
        let groups = (lease.filter?.mix?.groups ?? []).map { "\($0.share):\($0.action.rawValue)" }
        connections_drawn_groups = status.connectionsDrawnByGroup.map {
            Dictionary(zip(groups, $0), uniquingKeysWith: { a, _ in a })
        }
        rules = (status.rules ?? []).map {
            RuleJSON(
                table: tableName ?? "", chain: $0.chain, handle: $0.handle, rule: $0.text, comment: $0.comment,
                packets: $0.packets, bytes: $0.bytes)
        }
    }
}

struct StatusJSON: Encodable {
    let leases: [LeaseJSON]
    /// Leases whose watchdog was gone; this command reverted them.
    let swept: [String]
    /// Objects with netfault's marks that no live netfault owned; this command removed them.
    let removed: [String]
    /// Objects with netfault's marks that only `revert --all` removes.
    let orphans: [String]
    /// What other live netfaults (another journal or container) hold in this namespace.
    let others: [String]
}

/// What apply or run would do (--dry-run), as the commands that make the same change.
func printPreview(_ p: LeaseManager.Preview, _ request: FaultRequest, json: Bool) throws {
    let commands = p.steps.map(\.command)
    let script = p.plan.filter?.nftScript(timeout: p.duration)
    let nft = script.map { "nft -f - <<'EOF'\n\($0)\nEOF" }
    let warnings = warn(leaseWarnings(request, device: p.device, server: p.server))
    if json {
        struct PreviewJSON: Encodable {
            let lease: String; let device: String; let server: String; let commands: [String]; let nft: String?
            let deadline_enforced_by: String; let warnings: [String]
        }
        printJSON(
            PreviewJSON(
                lease: p.id, device: p.device, server: p.server.rawValue, commands: commands, nft: script,
                deadline_enforced_by: p.plan.enforcement.rawValue, warnings: warnings))
        return
    }
    print(
        "# --dry-run: nothing was changed. netfault would make lease \(p.id) (server \(p.server.rawValue)) like this:")
    for c in commands { print(c) }
    if let nft {
        print("# the lease's watchdog would hold this table (flags owner: it goes when the watchdog exits)")
        print(nft)
    }
    if commands.isEmpty && nft == nil { print("# nothing to install") }
    print("# deadline enforced by: \(enforcementText(p.plan.enforcement))")
}

/// What apply and --dry-run warn of for a lease on `device`: its netem faults acting on
/// super-packets, and a local server's clients that the lease does not reach.
func leaseWarnings(_ request: FaultRequest, device: String, server: ServerLocation?) -> [String] {
    offloadWarnings(request.netem, device: device, netns: request.netns)
        + localServerWarnings(
            request.netem, server: server, device: device, netns: request.netns, ifaceGiven: request.device != nil)
}

/// What would make a lease's netem faults act otherwise than asked, though they are in force:
/// offloads or an MTU that hand netem packets larger than wire packets (read, never changed).
func offloadWarnings(_ netem: NetemSpec, device: String, netns: NetworkNamespace?) -> [String] {
    guard !device.isEmpty, !netem.perPacketFaults.isEmpty else { return [] }
    return SegmentationOffloads.read(device: device, in: netns).warning(for: netem).map { [$0] } ?? []
}

/// A local server's netem lease goes on one device, lo unless --iface names another: clients
/// that reach the server over the namespace's other devices (a container's eth0) are not
/// faulted. Connection faults catch every device, so this is netem's alone.
func localServerWarnings(
    _ netem: NetemSpec, server: ServerLocation?, device: String, netns: NetworkNamespace?, ifaceGiven: Bool
) -> [String] {
    guard server == .local, !ifaceGiven, !netem.isEmpty, !device.isEmpty,
        let links = try? NetlinkSocket.open(in: netns).links(),
        links.contains(where: { $0.name == device && $0.isLoopback })
    else { return [] }
    let others = links.filter { $0.isUp && !$0.isLoopback }.map(\.name)
    guard let first = others.first else { return [] }
    return [
        """
        the netem faults are on \(device) only: clients that reach the server over \(others.joined(separator: ", ")) \
        are not faulted. Add --iface \(first) (a lease per device) to fault them
        """
    ]
}

/// Prints each warning on stderr (stdout stays the command's output, JSON or text); returns them.
@discardableResult
func warn(_ warnings: [String]) -> [String] {
    for w in warnings { note("warning: \(w)") }
    return warnings
}

func printJSON<T: Encodable>(_ value: T) {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if let d = try? e.encode(value) { print(String(decoding: d, as: UTF8.self)) }
}

/// Who ends the lease at its deadline, in a few words a person can act on.
func enforcementText(_ e: Enforcement) -> String {
    switch e {
    case .kernel: "kernel (nf_tables set timeouts: the faults end on time even if the watchdog is stopped or killed)"
    case .watchdog:
        """
        watchdog (u32 filters, or arriving traffic that tc sees before netfilter: if the watchdog is stopped or \
        killed, the next netfault command removes the faults)
        """
    }
}

/// How packets reach a band: u32 filters, or the lease's nf_tables rule.
func steering(_ b: InstalledBand, _ plan: LeasePlan) -> String {
    let planned = plan.bands.first { $0.device == b.device && $0.band == b.band }
    if planned?.steeredByNFTables == true { return "steered by the lease's nf_tables table" }
    return "\(b.filters) filter\(b.filters == 1 ? "" : "s")"
}

func formatSeconds(_ t: TimeInterval) -> String {
    let s = Int(t.rounded(.up))
    if s >= 3600 { return "\(s / 3600)h\(((s % 3600) / 60).padded(2))m" }
    if s >= 60 { return "\(s / 60)m\((s % 60).padded(2))s" }
    return "\(s)s"
}

/// A lease and its kernel objects, for people.
func describe(_ status: LeaseStatus) -> String {
    let lease = status.lease, installed = status.installed
    let ns = lease.netns.map { " in netns \($0.label)" } ?? ""
    let via = lease.device.isEmpty ? "" : " via \(lease.device)"
    let peers =
        (lease.peers ?? []).isEmpty
        ? "" : " with peers \((lease.peers ?? []).map(\.description).joined(separator: ", "))"
    let local = lease.server == .local ? " (server here)" : ""
    var lines = [
        """
        \(lease.id)  \(lease.target)\(peers) \(lease.direction.rawValue)\(local)\(via)\(ns): \(lease.summary), \
        \(formatSeconds(lease.timeLeft())) left
        """
            + (status.watchdogAlive ? "" : "  [watchdog gone: will be swept]")
    ]
    lines.append("  deadline enforced by: \(enforcementText(lease.plan.enforcement))")
    if let n = status.packetsMatched { lines.append("  packets matched so far: \(n)") }
    if let d = status.connectionsDrawn {
        let groups = zip(lease.filter?.mix?.groups ?? [], status.connectionsDrawnByGroup ?? [])
            .map { "\($0.share):\($0.action.rawValue) \($1)" }
        let each = groups.isEmpty ? "" : " (" + groups.joined(separator: ", ") + ")"
        lines.append("  new connections drawn so far: \(d.in) into the faults\(each), \(d.out) left alone")
    }
    if let why = status.notReadBack {
        lines.append("  kernel objects not read back: \(why)")
        return lines.joined(separator: "\n")
    }
    for b in installed {
        let faults = b.netem.map { $0.isEmpty ? "no faults" : $0.summary } ?? "MISSING from the kernel"
        var text = faults
        if let d = lease.netem.distribution, b.netem != nil { text += " (\(d.rawValue) jitter)" }
        lines.append(
            """
              \(b.device) band \(b.band): netem \(b.netemHandle) \(text); \(steering(b, lease.plan))
            """
        )
    }
    if let table = lease.plan.filter?.table {
        guard let rules = status.rules else {
            lines.append("  nf_tables table inet \(table): MISSING from the kernel")
            return lines.joined(separator: "\n")
        }
        lines.append(
            """
              nf_tables table inet \(table) (owned by the watchdog), \(rules.count) \
            rule\(rules.count == 1 ? "" : "s"):
            """
        )
        for r in rules {
            lines.append("    \(r.chain) #\(r.handle): \(r.text)  [\(r.packets) packet\(r.packets == 1 ? "" : "s")]")
        }
    }
    return lines.joined(separator: "\n")
}

/// With --connections: "3 new connections drawn into the faults, 7 left alone"; with a mix, each
/// group's count after the total: "(30%:reject 2, 10%:hang 1)".
func drawnText(_ drawn: (in: UInt64, out: UInt64), groups: [(group: String, drawn: UInt64)]? = nil) -> String {
    let each = (groups ?? []).map { "\($0.group) \($0.drawn)" }.joined(separator: ", ")
    return "\(drawn.in) new connection\(drawn.in == 1 ? "" : "s") drawn into the faults"
        + (each.isEmpty ? "" : " (\(each))") + ", \(drawn.out) left alone"
}

/// A mix's groups and their counts for JSON: {"30%:reject": 2, "10%:hang": 1}.
func drawnGroupsJSON(_ groups: [(group: String, drawn: UInt64)]) -> [String: UInt64] {
    Dictionary(groups.map { ($0.group, $0.drawn) }, uniquingKeysWith: { a, _ in a })
}
