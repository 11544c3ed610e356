import Foundation
import Glibc
import NetFaultCore
@testable import NetFaultKernel
@testable import NetFaultLeases

// The fake's traffic control (objects named "root lo", "netem lo 1", "filter lo 1",
// "ingress eth0", "redirect eth0 1", "ifb nfifb2") and its process table.
extension FakeLeaseKernel {
    func execute(
        _ steps: [TCStep], of plan: LeasePlan, distributionTable: [Int16]?, in netns: NetworkNamespace?
    ) throws {
        for s in steps {
            try step("step: \(s.command)") { try apply(s) }
        }
    }

    private func apply(_ s: TCStep) throws {
        let object: String
        switch s {
        case .createIfb(let name):
            links.append(LinkInfo(index: Int32(10 + links.count), name: name, isLoopback: false))
            object = "ifb \(name)"
        case .linkUp: return
        case .addRootPrio(let d): object = "root \(d)"
        case .addNetem(let d, let b, _): object = "netem \(d) \(b)"
        case .addBandFilter(let d, let b, _): object = "filter \(d) \(b)"
        case .addIngress(let d): object = "ingress \(d)"
        case .addRedirect(let d, let b, _, _): object = "redirect \(d) \(b)"
        }
        if object.hasPrefix("root") || object.hasPrefix("netem") || object.hasPrefix("ifb"),
            state.tc.contains(object)
        {
            throw KernelError(operation: s.command, errno: EEXIST)
        }
        state.tc.insert(object)
    }

    private func removeAll(on device: String, _ kinds: [String]) {
        state.tc = state.tc.filter { o in
            let p = o.split(separator: " ")
            return !(kinds.contains(String(p[0])) && p[1] == device)
        }
    }

    /// As TrafficControl.revert: the plan's objects, then the root, ingress or ifb no lease uses.
    func revertBands(_ plan: LeasePlan, in netns: NetworkNamespace?) throws {
        log.append("tc revert")
        for r in plan.redirects {
            state.tc.remove("redirect \(r.device) \(r.band)")
            if !state.tc.contains(where: { $0.hasPrefix("redirect \(r.device) ") }) {
                state.tc.remove("ingress \(r.device)")
            }
        }
        for band in plan.bands where links.contains(where: { $0.name == band.device }) {
            let d = band.device
            state.tc.remove("filter \(d) \(band.band)")
            state.tc.remove("netem \(d) \(band.band)")
            guard state.tc.contains("root \(d)"), !state.tc.contains(where: { $0.hasPrefix("netem \(d) ") }) else {
                continue
            }
            if d.hasPrefix(Ownership.ifbPrefix) {
                removeDevice(d)
            } else {
                state.tc.remove("root \(d)")
            }
        }
    }

    private func removeDevice(_ name: String) {
        links.removeAll { $0.name == name }
        removeAll(on: name, ["ifb", "root", "netem", "filter", "ingress", "redirect"])
    }

    func readBack(_ plan: LeasePlan, in netns: NetworkNamespace?) throws -> [InstalledBand] {
        log.append("tc read-back")
        if readBackFails { throw KernelError(operation: "listing qdiscs (told to fail)", errno: EIO) }
        return plan.bands.map { b in
            let there = state.tc.contains("netem \(b.device) \(b.band)")
            return InstalledBand(
                device: b.device, band: b.band, netem: there && !readBackLosesNetem ? b.netem : nil,
                filters: state.tc.contains("filter \(b.device) \(b.band)") ? b.families.count : 0,
                packets: there ? 5 : nil)
        }
    }

    private func index(_ device: String) -> Int32 { links.first { $0.name == device }?.index ?? 0 }

    func marked(in netns: NetworkNamespace?) throws -> TrafficControl.Marked {
        log.append("tc marked")
        var m = TrafficControl.Marked()
        for o in state.tc.sorted() {
            let p = o.split(separator: " ").map(String.init)
            let (kind, d) = (p[0], p[1])
            switch kind {
            case "root": m.roots.append((d, index(d)))
            case "netem": m.bands.append((d, index(d), UInt16(p[2])!))
            case "redirect": m.redirects.append((d, index(d), UInt16(p[2])!))
            case "ingress": m.ingresses.append((d, index(d)))
            case "ifb": m.ifbs.append((d, index(d)))
            default: break
            }
        }
        return m
    }

    func remove(_ object: OwnedObject, in netns: NetworkNamespace?) throws {
        log.append("tc remove \(object.device)")
        switch object {
        case .band(let d, _, let b):
            state.tc.remove("netem \(d) \(b)")
            state.tc.remove("filter \(d) \(b)")
        case .redirect(let d, _, let b): state.tc.remove("redirect \(d) \(b)")
        case .root(let d, _): removeAll(on: d, ["root", "netem", "filter"])
        case .ingress(let d, _): removeAll(on: d, ["ingress", "redirect"])
        case .ifb(let n, _), .probeDevice(let n, _): removeDevice(n)
        }
    }

    // MARK: LeaseProcesses

    /// A started watchdog takes over the claims and the table socket (their descriptors are
    /// passed to it); set `watchdogExitsAtOnce` for one that dies before it is seen.
    func spawnWatchdog(
        executable: String, leaseID: String, logPath: String, entry: Int32, table: TableOwner?,
        claims: [ClaimHandle]
    ) throws -> (pid: pid_t, identity: ProcessIdentity?) {
        var result: (pid_t, ProcessIdentity?) = (0, nil)
        try step("spawn watchdog \(leaseID)") {
            let pid = nextWatchdogPid()
            result.0 = pid
            guard !watchdogExitsAtOnce else { return }
            state.alive.insert(pid)
            for c in claims { state.claims[c.name]?.pid = pid }
            if let t = table as? FakeTableOwner {
                t.pid = pid
                for name in t.made where state.tables[name] != nil { state.tables[name]?.owner = pid }
            }
            let directory = URL(fileURLWithPath: logPath).deletingLastPathComponent().path
            state.watchdogs[pid] = Watchdog(leaseID: leaseID, directory: directory, claims: claims, table: table)
            result.1 = ProcessIdentity(pid: pid, startTime: 7)
        }
        return result
    }

    func isAlive(_ process: ProcessIdentity) -> Bool { state.alive.contains(process.pid) }

    /// SIGTERM or SIGKILL ends a watchdog (SIGTERM after it removed its table, which comes to
    /// the same here); SIGCONT changes nothing.
    func signal(_ pid: pid_t, _ signal: Int32) {
        log.append("signal \(signal) \(pid)")
        if signal == SIGTERM || signal == SIGKILL, state.watchdogs[pid] != nil { die(pid) }
    }

    func current() -> ProcessIdentity? { me }

    func isWatchdog(pid: pid_t, of directory: URL) -> Bool {
        state.watchdogs[pid]?.directory == directory.path && state.alive.contains(pid)
    }
}
