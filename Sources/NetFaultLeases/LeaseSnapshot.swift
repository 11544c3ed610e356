import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel

extension LeaseSnapshot {
    /// Reads what `request` needs planned: the device (checked), its ifb's, and the server.
    static func take(_ request: FaultRequest, kernel: LeaseKernel) throws -> LeaseSnapshot {
        let server = try request.serverLocation(listening: { try kernel.listeningPorts(in: request.netns) })
        guard !request.netem.isEmpty else { return LeaseSnapshot(server: server, device: nil) }
        let link = try DeviceResolver(request: request, kernel: kernel).resolve()
        let device = LeaseSnapshot.Device(
            name: link.name, index: link.index, isLoopback: link.isLoopback,
            state: try kernel.deviceState(link.name, in: request.netns),
            ifb: try kernel.deviceState(Ownership.ifbName(forIndex: link.index), in: request.netns))
        return LeaseSnapshot(server: server, device: device)
    }
}

/// Conflicts between a request and the leases in force.
enum LeaseConflicts {
    /// Refuses a lease that would put a second fault of the same kind on the same packets
    /// as a lease in force: only one of them could act, and which one would be an accident.
    static func check(_ request: FaultRequest, with leases: [Lease]) throws {
        let mine = request.scope
        for other in leases where other.netns == request.netns {
            let theirs = FaultScope(
                target: other.target, peers: other.peers ?? [], direction: other.direction,
                netem: other.netem, filter: other.filter ?? FilterSpec())
            let kinds = mine.conflicts(with: theirs)
            guard !kinds.isEmpty else { continue }
            let ports = Set(request.target.ports).intersection(other.target.ports).sorted().map(String.init)
                .joined(separator: ",")
            let kind = kinds.contains(.netem) ? "netem" : "netfilter"
            throw PlanConflict(
                """
                lease \(other.id) already puts \(kind) faults (\(other.summary)) on port \(ports) \
                \(other.direction.rawValue); one packet gets one \(kind) fault. Revert it first (netfault revert \
                \(other.id)), or choose another port, --direction or --host
                """
            )
        }
    }
}

/// The device a request's traffic leaves through, checked to exist.
struct DeviceResolver {
    let request: FaultRequest
    let kernel: LeaseKernel

    func resolve() throws -> LinkInfo {
        let links = try kernel.links(in: request.netns)
        if let name = request.device {
            guard let l = links.first(where: { $0.name == name }) else {
                throw InputError(
                    "unknown interface '\(name)'; this host has: \(links.map(\.name).joined(separator: ", "))")
            }
            try checkIface(l, links: links)
            return l
        }
        // The server's address, or each --peer block's: all must leave through one device.
        let addresses = request.target.addressBlocks(peers: request.peers).map(\.address)
        let routed = try addresses.map { ($0, try routedLink($0, links: links)) }
        if let first = routed.first {
            if let other = routed.first(where: { $0.1.index != first.1.index }) {
                throw InputError(
                    """
                    --peer \(first.0) routes through \(first.1.name) but \(other.0) through \(other.1.name); give \
                    --iface, or one lease per device
                    """
                )
            }
            return first.1
        }
        guard let lo = links.first(where: \.isLoopback) else {
            throw InputError("no loopback device here; give --iface")
        }
        return lo
    }

    func routedLink(_ address: IPAddress, links: [LinkInfo]) throws -> LinkInfo {
        let noRoute = InputError(
            "no route to \(request.target.host != nil ? "--host" : "--peer") \(address); give --iface explicitly")
        let idx: Int32?
        do { idx = try kernel.routeDevice(to: address, in: request.netns) } catch let e as KernelError
            where [ENETUNREACH, EHOSTUNREACH].contains(e.errno)
        {
            throw noRoute
        }
        guard let idx, let l = links.first(where: { $0.index == idx }) else { throw noRoute }
        return l
    }

    /// Refuses an --iface that --host's packets never pass (Target.checkIface). Whether the host
    /// goes over loopback (an address of this host's own does) is the kernel's route to it.
    func checkIface(_ link: LinkInfo, links: [LinkInfo]) throws {
        guard let host = request.target.host else { return }
        var routed: LinkInfo?
        if link.isLoopback && !host.isLoopback {
            do {
                let index = try kernel.routeDevice(to: host, in: request.netns)
                routed = links.first { $0.index == index }
            } catch let e as KernelError where [ENETUNREACH, EHOSTUNREACH].contains(e.errno) {}
        }
        try request.target.checkIface(
            link.name, isLoopback: link.isLoopback, routed: routed.map { ($0.name, $0.isLoopback) })
    }
}
