import Foundation
import NetFaultCore

/// An object that carries netfault's marks (root handle 6e66:, an ingress holding only
/// netfault's filter priorities, an nfifb device). Found from the kernel alone, so a lost or
/// corrupted journal never leaves faults behind.
public enum OwnedObject: Equatable, Sendable, CustomStringConvertible {
    case root(device: String, ifindex: Int32)
    case ingress(device: String, ifindex: Int32)
    case ifb(name: String, ifindex: Int32)

    public var device: String {
        switch self {
        case .root(let d, _), .ingress(let d, _): d
        case .ifb(let n, _): n
        }
    }

    public var description: String {
        switch self {
        case .root(let d, _): "\(d): root prio qdisc \(String(Ownership.rootMajor, radix: 16)): with its netem bands and filters"
        case .ingress(let d, _): "\(d): ingress qdisc with netfault's redirect filters"
        case .ifb(let n, _): "\(n): ifb device"
        }
    }
}

extension TrafficControl {
    /// Every object in this network namespace that carries netfault's marks.
    public func ownedObjects() throws -> [OwnedObject] {
        var found: [OwnedObject] = []
        let qdiscs = try nl.transact(TCRequests.dumpQdiscs(), "listing qdiscs").compactMap(QdiscInfo.init)
        for link in try nl.links() {
            if link.name.hasPrefix(Ownership.ifbPrefix) {
                found.append(.ifb(name: link.name, ifindex: link.index))
                continue  // deleting the device deletes its qdiscs
            }
            let mine = qdiscs.filter { $0.ifindex == link.index }
            if mine.contains(where: { $0.isRoot && $0.kind == "prio" && $0.major == Ownership.rootMajor }) {
                found.append(.root(device: link.name, ifindex: link.index))
            }
            if let ing = mine.first(where: \.isIngress), ing.kind == "ingress" {
                let fs = try filters(ifindex: link.index, parent: ing.handle)
                if !fs.isEmpty && fs.allSatisfy({ Self.isOwnPriority($0.priority) }) {
                    found.append(.ingress(device: link.name, ifindex: link.index))
                }
            }
        }
        return found
    }

    /// Removes one owned object; the kernel gives the device its default root qdisc back.
    public func remove(_ object: OwnedObject) throws {
        do {
            switch object {
            case .root(let d, let i): try nl.perform(TCRequests.deleteRoot(ifindex: i), "removing netfault's root qdisc on \(d)")
            case .ingress(let d, let i): try nl.perform(TCRequests.deleteIngress(ifindex: i), "removing netfault's ingress qdisc on \(d)")
            case .ifb(let n, let i): try nl.perform(TCRequests.deleteLink(index: i), "removing ifb device \(n)")
            }
        } catch let e as KernelError where [ENOENT, EINVAL, ENODEV].contains(e.errno) {
            // already gone
        }
    }

    /// Owned objects that none of the given plans accounts for.
    public func orphans(besides plans: [LeasePlan]) throws -> [OwnedObject] {
        let bandDevices = Set(plans.flatMap { $0.bands.map(\.device) })
        let redirectDevices = Set(plans.flatMap { $0.redirects.map(\.device) })
        return try ownedObjects().filter { obj in
            switch obj {
            case .root(let d, _): !bandDevices.contains(d)
            case .ingress(let d, _): !redirectDevices.contains(d)
            case .ifb(let n, _): !bandDevices.contains(n)
            }
        }
    }
}
