import FoundationEssentials
import Glibc
import NetFaultCore

/// What one band of a lease holds in the kernel, as read back after apply.
public struct InstalledBand: Sendable, Equatable, Codable {
    public let device: String
    public let band: UInt16
    public let netem: NetemSpec?
    public let filters: Int
    /// Packets its netem qdisc has sent: the lease's traffic on this band so far.
    public let packets: UInt64?
    public init(device: String, band: UInt16, netem: NetemSpec?, filters: Int, packets: UInt64? = nil) {
        self.device = device; self.band = band; self.netem = netem; self.filters = filters; self.packets = packets
    }
    public var netemHandle: String { String(Ownership.netemMajor(band: band), radix: 16) + ":" }
}

/// Applies, reads back and reverts lease plans through rtnetlink. Removes only objects that
/// carry netfault's handles and priorities.
public final class TrafficControl {
    public let nl: NetlinkSocket
    public init(socket: NetlinkSocket) { nl = socket }

    func index(of device: String) throws -> Int32 {
        guard let l = try nl.link(named: device) else {
            throw KernelError(operation: "finding device \(device)", errno: ENODEV)
        }
        return l.index
    }

    public func qdiscs(ifindex: Int32) throws -> [QdiscInfo] {
        try nl.transact(TCRequests.dumpQdiscs(), "listing qdiscs").compactMap(QdiscInfo.init).filter {
            $0.ifindex == ifindex
        }
    }

    public func filters(ifindex: Int32, parent: UInt32) throws -> [FilterInfo] {
        do {
            return try nl.transact(TCRequests.dumpFilters(ifindex: ifindex, parent: parent), "listing filters")
                .compactMap(FilterInfo.init)
        } catch let e as KernelError where e.errno == EINVAL || e.errno == ENOENT {
            return []  // no such parent: nothing to list
        }
    }

    /// The planner's view of a device's root (and ingress).
    public func state(of device: String) throws -> DeviceState {
        guard let l = try nl.link(named: device) else {
            return DeviceState(name: device, root: .kernelDefault(kind: "none"), exists: false)
        }
        let qs = try qdiscs(ifindex: l.index)
        let root: DeviceState.Root
        if let r = qs.first(where: \.isRoot) {
            if r.isNetfaultRoot {
                let used = Set(
                    qs.filter {
                        $0.parent >> 16 == UInt32(Ownership.rootMajor) && Ownership.isOwnBand(netemMajor: $0.major)
                    }
                    .map { UInt16($0.parent & 0xffff) })
                root = .ours(usedBands: used)
            } else if r.major == 0 && DeviceState.defaultRootKinds.contains(r.kind) {
                root = .kernelDefault(kind: r.kind)
            } else {
                root = .foreign(kind: r.kind, handle: r.handle)
            }
        } else {
            root = .kernelDefault(kind: "none")
        }
        var foreignIngress = false
        let ingress = qs.first(where: \.isIngress)
        if let ing = ingress {
            let fs = try filters(ifindex: l.index, parent: ing.handle)
            // netfault removes its ingress qdisc with its last redirect filter, so an ingress
            // without netfault's filters (even an empty one) is the user's.
            foreignIngress = !Self.isOwnIngress(ing, filters: fs, ifbs: Self.ifbIndexes(try nl.links()))
        }
        return DeviceState(name: device, root: root, foreignIngress: foreignIngress, hasIngress: ingress != nil)
    }

    /// An ingress qdisc is netfault's when it holds filters and every one of them is a redirect
    /// netfault makes: at one of its priorities, to one of its ifb devices. A user's filter at
    /// such a priority (0x6e04 is a number anyone may pick) makes the whole qdisc the user's.
    /// `ifbs`: the indexes of netfault's ifb devices (ifbIndexes).
    static func isOwnIngress(_ ingress: QdiscInfo, filters fs: [FilterInfo], ifbs: Set<Int32>) -> Bool {
        guard ingress.kind == "ingress", !fs.isEmpty else { return false }
        return fs.allSatisfy { f in
            guard Self.isOwnPriority(f.priority), f.kind == "u32" else { return false }
            // u32 also lists each priority's hash table (a handle without a node id): no action.
            return f.handle & 0xfff == 0 || f.redirectIfindex.map(ifbs.contains) == true
        }
    }

    static func ifbIndexes(_ links: [LinkInfo]) -> Set<Int32> {
        Set(links.filter { $0.name.hasPrefix(Ownership.ifbPrefix) }.map(\.index))
    }

    static func isOwnPriority(_ p: UInt16) -> Bool {
        let lo = Ownership.filterPriority(band: Ownership.leaseBands.lowerBound, family: .ipv4)
        let hi = Ownership.filterPriority(band: Ownership.leaseBands.upperBound, family: .ipv6)
        return p >= lo && p <= hi
    }

    /// Runs the steps that install `plan`, in order, deciding nothing: each is one request
    /// (NLM_F_EXCL where it creates, so a change made since the snapshot fails instead of being
    /// taken over). On any failure, removes what the plan had installed and rethrows.
    public func execute(_ steps: [TCStep], of plan: LeasePlan, distributionTable: [Int16]? = nil) throws {
        do {
            var indices = Dictionary(try nl.links().map { ($0.name, $0.index) }, uniquingKeysWith: { a, _ in a })
            for step in steps {
                let call = try step.kernelCall(distributionTable: distributionTable) { name in
                    guard let i = indices[name] else { throw KernelError(operation: step.command, errno: ENODEV) }
                    return i
                }
                try call.perform(on: nl, step.command)
                if case .createIfb(let name) = step {
                    guard let l = try nl.link(named: name) else {
                        throw KernelError(
                            operation: step.command, errno: ENODEV, source: .netfault,
                            detail: "the new device is not listed")
                    }
                    indices[name] = l.index
                }
            }
        } catch {
            try? revert(plan)
            throw error
        }
    }

    /// Removes a plan's objects. Idempotent: objects already gone are not an error. Removes the
    /// root prio, the ingress qdisc and the ifb device once no lease uses them, which gives
    /// each device back its kernel default.
    public func revert(_ plan: LeasePlan) throws {
        var firstError: Error?
        func attempt(_ body: () throws -> Void) {
            do { try body() } catch let e as KernelError where [ENOENT, EINVAL, ENODEV].contains(e.errno) {
                // already gone
            } catch { if firstError == nil { firstError = error } }
        }
        for r in plan.redirects {
            guard let l = try nl.link(named: r.device) else { continue }
            for request in TCRequests.deleteRedirectFilters(ifindex: l.index, band: r.band, families: r.families) {
                attempt { try nl.perform(request, "removing redirect filters on \(r.device)") }
            }
            let ingress = try qdiscs(ifindex: l.index).first(where: \.isIngress)
            if let ingress, ingress.kind == "ingress", try filters(ifindex: l.index, parent: ingress.handle).isEmpty {
                attempt {
                    try nl.perform(
                        TCRequests.deleteIngress(ifindex: l.index), "removing the ingress qdisc on \(r.device)")
                }
            }
        }
        for band in plan.bands {
            guard let l = try nl.link(named: band.device) else { continue }
            for request in TCRequests.deleteBandFilters(ifindex: l.index, band: band.band, families: band.families) {
                attempt { try nl.perform(request, "removing filters on \(band.device)") }
            }
            attempt {
                try nl.perform(
                    TCRequests.deleteNetem(ifindex: l.index, band: band.band),
                    "removing the netem qdisc on \(band.device)")
            }
            if case .ours(let used) = try state(of: band.device).root, used.isEmpty {
                if band.device.hasPrefix(Ownership.ifbPrefix) {
                    attempt {
                        try nl.perform(TCRequests.deleteLink(index: l.index), "removing ifb device \(band.device)")
                    }
                } else {
                    attempt {
                        try nl.perform(
                            TCRequests.deleteRoot(ifindex: l.index),
                            "restoring the default root qdisc on \(band.device)")
                    }
                }
            }
        }
        if let firstError { throw firstError }
    }

    /// Reads a plan's bands back from the kernel.
    public func readBack(_ plan: LeasePlan) throws -> [InstalledBand] {
        try plan.bands.map { band in
            guard let l = try nl.link(named: band.device) else {
                return InstalledBand(device: band.device, band: band.band, netem: nil, filters: 0)
            }
            let netemHandle = TCRequests.handle(Ownership.netemMajor(band: band.band))
            let q = try qdiscs(ifindex: l.index).first { $0.handle == netemHandle && $0.kind == "netem" }
            let fs = try filters(ifindex: l.index, parent: TCRequests.handle(Ownership.rootMajor))
                .filter { f in
                    band.families.contains { Ownership.filterPriority(band: band.band, family: $0) == f.priority }
                        && f.classID != nil
                }
            return InstalledBand(
                device: band.device, band: band.band, netem: q.flatMap { NetemDecoder.decode($0.options) },
                filters: fs.count, packets: q?.packets)
        }
    }
}
