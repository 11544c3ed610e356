import FoundationEssentials
import Glibc
import NetFaultCore

/// An object that carries netfault's marks (root handle 6e66: and its netem bands, redirect
/// filters on an ingress qdisc, nfifb and nfprobe devices), found from the kernel alone, so a
/// lost journal or a killed container never leaves faults behind.
public enum OwnedObject: Equatable, Sendable, CustomStringConvertible {
    /// One lease's netem qdisc under netfault's root prio, with the filters that feed it.
    case band(device: String, ifindex: Int32, band: UInt16)
    /// The filters on a device's ingress that redirect to band `band` of its ifb device.
    case redirect(device: String, ifindex: Int32, band: UInt16)
    /// netfault's root prio with every band in it.
    case root(device: String, ifindex: Int32)
    /// An ingress qdisc holding only netfault's redirect filters.
    case ingress(device: String, ifindex: Int32)
    case ifb(name: String, ifindex: Int32)
    /// A feature probe's scratch device.
    case probeDevice(name: String, ifindex: Int32)

    public var device: String {
        switch self {
        case .band(let d, _, _), .redirect(let d, _, _), .root(let d, _), .ingress(let d, _): d
        case .ifb(let n, _), .probeDevice(let n, _): n
        }
    }

    public var description: String {
        switch self {
        case .band(let d, _, let b):
            "\(d): netem band \(b) (qdisc \(String(Ownership.netemMajor(band: b), radix: 16)):) with its filters"
        case .redirect(let d, _, let b): "\(d): ingress filters redirecting to band \(b) of \(Ownership.ifbPrefix)"
        case .root(let d, _):
            "\(d): root prio qdisc \(String(Ownership.rootMajor, radix: 16)): with its netem bands and filters"
        case .ingress(let d, _): "\(d): ingress qdisc with netfault's redirect filters"
        case .ifb(let n, _): "\(n): ifb device"
        case .probeDevice(let n, _): "\(n): feature probe's scratch device"
        }
    }
}

/// Which of netfault's objects some live netfault still owns.
public struct Liveness: Sendable {
    /// Device and band pairs whose claim is held, or that a lease in this journal holds.
    public var bands: Set<BandKey>
    /// Probe scratch devices whose claim is held.
    public var probeDevices: Set<String>

    public init(bands: Set<BandKey> = [], probeDevices: Set<String> = []) {
        self.bands = bands; self.probeDevices = probeDevices
    }

    public struct BandKey: Hashable, Sendable {
        public let device: String
        public let band: UInt16
        public init(_ device: String, _ band: UInt16) { self.device = device; self.band = band }
    }

    func live(_ device: String, _ band: UInt16) -> Bool { bands.contains(BandKey(device, band)) }
    func anyLive(on device: String) -> Bool { bands.contains { $0.device == device } }
}

extension TrafficControl {
    /// Every object in this namespace that carries netfault's marks, device by device.
    public struct Marked: Sendable {
        public var bands: [(device: String, ifindex: Int32, band: UInt16)] = []
        public var roots: [(device: String, ifindex: Int32)] = []
        public var redirects: [(device: String, ifindex: Int32, band: UInt16)] = []
        public var ingresses: [(device: String, ifindex: Int32)] = []
        public var ifbs: [(name: String, ifindex: Int32)] = []
        public var probeDevices: [(name: String, ifindex: Int32)] = []

        /// The claim names that decide whether these objects are alive.
        public var claimNames: [String] {
            let bandDevices = Set(
                roots.map(\.device) + ifbs.map(\.name) + redirects.map { Ownership.ifbName(forIndex: $0.ifindex) })
            return bandDevices.sorted().flatMap { d in Ownership.leaseBands.map { Claims.band(device: d, band: $0) } }
                + probeDevices.map { Claims.probe(device: $0.name) }
        }

        /// The marked objects that no live netfault owns, as whole as possible: a device none of
        /// whose bands is owned loses netfault's root (or, for an ifb, the device); otherwise only
        /// its unowned bands go.
        public func orphans(live: Liveness) -> [OwnedObject] {
            var found: [OwnedObject] = []
            let ifbNames = Set(ifbs.map(\.name))
            for r in roots {
                if live.anyLive(on: r.device) {
                    found += bands.filter { $0.device == r.device && !live.live($0.device, $0.band) }
                        .map { .band(device: $0.device, ifindex: $0.ifindex, band: $0.band) }
                } else if !ifbNames.contains(r.device) {
                    found.append(.root(device: r.device, ifindex: r.ifindex))
                }
            }
            for i in ingresses {
                let ifb = Ownership.ifbName(forIndex: i.ifindex)
                let mine = redirects.filter { $0.device == i.device }
                if live.anyLive(on: ifb) {
                    found += mine.filter { !live.live(ifb, $0.band) }.map {
                        .redirect(device: $0.device, ifindex: $0.ifindex, band: $0.band)
                    }
                } else {
                    found.append(.ingress(device: i.device, ifindex: i.ifindex))
                }
            }
            for d in ifbs where !live.anyLive(on: d.name) { found.append(.ifb(name: d.name, ifindex: d.ifindex)) }
            for d in probeDevices where !live.probeDevices.contains(d.name) {
                found.append(.probeDevice(name: d.name, ifindex: d.ifindex))
            }
            return found
        }
    }

    public func marked() throws -> Marked {
        var m = Marked()
        let qdiscs = try nl.transact(TCRequests.dumpQdiscs(), "listing qdiscs").compactMap(QdiscInfo.init)
        let links = try nl.links()
        let ifbs = Self.ifbIndexes(links)
        for link in links {
            if link.name.hasPrefix(FeatureProbe.devicePrefix) {
                m.probeDevices.append((link.name, link.index))
                continue
            }
            if link.name.hasPrefix(Ownership.ifbPrefix) { m.ifbs.append((link.name, link.index)) }
            let mine = qdiscs.filter { $0.ifindex == link.index }
            if mine.contains(where: \.isNetfaultRoot) {
                m.roots.append((link.name, link.index))
                for q in mine
                where q.parent >> 16 == UInt32(Ownership.rootMajor) && Ownership.isOwnBand(netemMajor: q.major) {
                    m.bands.append((link.name, link.index, UInt16(q.parent & 0xffff)))
                }
            }
            if let ing = mine.first(where: \.isIngress), ing.kind == "ingress" {
                let fs = try filters(ifindex: link.index, parent: ing.handle)
                if Self.isOwnIngress(ing, filters: fs, ifbs: ifbs) {
                    m.ingresses.append((link.name, link.index))
                    for b in Set(fs.map { Self.band(ofPriority: $0.priority) }).sorted() {
                        m.redirects.append((link.name, link.index, b))
                    }
                }
            }
        }
        return m
    }

    static func band(ofPriority p: UInt16) -> UInt16 { (p - 0x6e00) / 2 }

    /// Removes one owned object; the kernel gives the device its default root qdisc back.
    public func remove(_ object: OwnedObject) throws {
        func attempt(_ request: NetlinkRequest, _ what: String) throws {
            do { try nl.perform(request, what) } catch let e as KernelError
                where [ENOENT, EINVAL, ENODEV].contains(e.errno)
            {
                // already gone
            }
        }
        switch object {
        case .band(let d, let i, let b):
            for request in TCRequests.deleteBandFilters(ifindex: i, band: b, families: IPAddress.Family.allCases) {
                try attempt(request, "removing the filters of band \(b) on \(d)")
            }
            try attempt(TCRequests.deleteNetem(ifindex: i, band: b), "removing netem band \(b) on \(d)")
        case .redirect(let d, let i, let b):
            for request in TCRequests.deleteRedirectFilters(ifindex: i, band: b, families: IPAddress.Family.allCases) {
                try attempt(request, "removing redirect filters on \(d)")
            }
        case .root(let d, let i):
            try attempt(TCRequests.deleteRoot(ifindex: i), "removing netfault's root qdisc on \(d)")
        case .ingress(let d, let i):
            try attempt(TCRequests.deleteIngress(ifindex: i), "removing netfault's ingress qdisc on \(d)")
        case .ifb(let n, let i), .probeDevice(let n, let i):
            try attempt(TCRequests.deleteLink(index: i), "removing device \(n)")
        }
    }
}
