import FoundationEssentials
import Glibc
import NetFaultCore
import NetFaultKernel
import NetFaultLeases

/// Toxics as netfault leases on each proxy's upstream port, so they reach the proxy's clients
/// and the clients that connect to the server directly. Where nf_tables works, the leases are
/// held by this process (no watchdog): their tables are owned by its netfilter socket and their
/// set elements expire `leaseTimeout` after the last renewal. Without nf_tables each lease gets
/// a watchdog that this process controls: it reverts when this process dies.
public final class KernelBackend: ToxicBackend, @unchecked Sendable {
    public let name = "kernel"
    /// How long a held lease's faults outlive a stopped daemon; renewed every third of it.
    public static let leaseTimeout = Duration.seconds(10)

    let manager: LeaseManager
    /// This process's netfilter socket, owner of every held lease's table; nil: no nf_tables.
    let tables: NFTables?
    let allowPorts: Set<UInt16>
    let executable: String
    /// The kernel has netem (latency and bandwidth need it).
    let withNetem: Bool

    enum Lease {
        case held(HeldLease)
        /// A journal lease with a watchdog, by id (kernels without nf_tables).
        case watched(String)
    }
    struct Installed { let faults: KernelMapping.Faults; let lease: Lease }

    private let state = Condition()
    private var installed: [String: [Direction: Installed]] = [:]
    private var proxies: [String: ProxyFaults] = [:]
    private var stopping = false
    private var renewer: JoinableThread?

    /// `withNFTables`: the kernel has nf_tables with owner tables (the feature probe says).
    public init(
        journal: Journal, allowPorts: Set<UInt16>, executable: String, withNFTables: Bool, withNetem: Bool
    ) throws {
        manager = LeaseManager(journal: journal)
        self.withNetem = withNetem
        tables = withNFTables ? try NFTables.open(in: nil) : nil
        self.allowPorts = allowPorts
        self.executable = executable
        if tables != nil { renewer = try JoinableThread { [unowned self] in self.renewLoop() } }
    }

    /// Who ends the faults at their deadline: "kernel" (nf_tables set timeouts) or "watchdog".
    public var enforcedBy: String { tables != nil ? "kernel" : "watchdog" }

    public func check(upstream: HostPort) throws(ServeFailure) {
        guard allowPorts.contains(upstream.port) else {
            throw .upstreamNotAllowed(port: upstream.port, allowed: allowPorts.sorted())
        }
        _ = try Self.address(upstream)
    }

    public func check(_ toxic: Toxic) throws(ServeFailure) {
        try KernelMapping.check(toxic)
        // Bandwidth at rate 0 is a hang: nf_tables alone.
        var netem = toxic.type == .latency || toxic.type == .bandwidth
        if case .bandwidth(let b) = toxic.kind, b.rate == 0 { netem = false }
        if !withNetem, netem {
            throw .noNetem(toxic: toxic.name, type: toxic.type)
        }
    }

    public func notes(for toxic: Toxic) -> [String] { KernelMapping.notes(for: toxic) }

    /// The upstream's address as a lease's --host: none for loopback, so that 127.0.0.1, ::1
    /// and "localhost" are all caught (clients pick either). A name (a compose service, say) is
    /// resolved when the proxy is made, to its first address, IPv4 first.
    static func address(_ upstream: HostPort) throws(ServeFailure) -> IPAddress? {
        let h = upstream.host
        if h.isEmpty || h == "localhost" { return nil }
        guard let a = IPAddress(h) ?? resolve(h) else { throw .unresolvableUpstream(host: h) }
        if a.bytes.count == 4 ? a.bytes[0] == 127 : a.bytes == [UInt8](repeating: 0, count: 15) + [1] { return nil }
        return a
    }

    static func resolve(_ name: String) -> IPAddress? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0 else { return nil }
        defer { freeaddrinfo(list) }
        var found: [IPAddress] = []
        var p = list
        while let ai = p {
            if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var a = sin.pointee.sin_addr
                    found.append(IPAddress(bytes: withUnsafeBytes(of: &a) { Array($0) }))
                }
            } else if ai.pointee.ai_family == AF_INET6, let sa = ai.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    var a = sin.pointee.sin6_addr
                    found.append(IPAddress(bytes: withUnsafeBytes(of: &a) { Array($0) }))
                }
            }
            p = ai.pointee.ai_next
        }
        return found.first { $0.bytes.count == 4 } ?? found.first
    }

    /// The kernel backend's faults are the leases; the forwarder only forwards.
    public func apply(_ proxy: ProxyFaults, to forwarder: ToxicProxy) throws(ServeFailure) {
        do {
            try state.withLock {
                guard !stopping else { throw ServeFailure.shuttingDown }
                proxies[proxy.name] = proxy
                try applyLocked(proxy)
            }
        } catch {
            throw ServeFailure(error)
        }
    }

    public func remove(proxy name: String) {
        state.withLock {
            proxies[name] = nil
            for (_, i) in installed[name] ?? [:] { release(i.lease) }
            installed[name] = nil
        }
    }

    public func shutdown() {
        let thread: JoinableThread? = state.withLock {
            stopping = true
            for (_, leases) in installed { for (_, i) in leases { release(i.lease) } }
            installed = [:]
            state.broadcast()
            return renewer
        }
        thread?.join()
    }

    /// The kernel's counts of each lease of the proxy, by toxic: a held lease's nf_tables rules,
    /// read under the lock (the netfilter socket is the one the renewals use); a watched lease's
    /// netem qdiscs (kernels without nf_tables), in packets only. A lease that cannot be read
    /// gives no counts, rather than a count of 0.
    public func matched(proxy name: String) -> [ToxicMatch] {
        state.withLock {
            guard let proxy = proxies[name] else { return [] }
            var counts: [Direction: [KernelMatches.Counted]] = [:]
            for (d, i) in installed[name] ?? [:] {
                switch i.lease {
                case .held(let h):
                    guard let table = h.plan.filter?.table, let tables else { continue }
                    // The draws of a toxicity count every new connection's SYN, not the toxic's.
                    do {
                        let faults = try tables.rules(in: table).filter { $0.draws == nil }
                        counts[d] = faults.map(KernelMatches.Counted.init)
                    } catch {
                        writeStandardError("netfault serve: reading the counters of table \(table) failed: \(error)\n")
                        return []
                    }
                case .watched(let id):
                    guard let packets = manager.packetsMatched(id: id) else { return [] }
                    counts[d] = [KernelMatches.Counted(packets: packets, bytes: nil, netem: true)]
                }
            }
            return KernelMatches.count(toxics: proxy.toxics, counts: counts)
        }
    }

    /// Releases the leases whose faults changed, then installs the new ones: never two leases
    /// of one proxy on the same packets at once.
    private func applyLocked(_ proxy: ProxyFaults) throws {
        let want = KernelMapping.faults(enabled: proxy.enabled, toxics: proxy.toxics)
        // Resolved once for this change (a name may ask DNS), not again for each stream's lease.
        let host = try Self.address(proxy.upstream)
        try KernelMapping.checkShares(want, loopback: host == nil)
        var have = installed[proxy.name] ?? [:]
        defer { installed[proxy.name] = have }
        for (d, i) in have where want[d] != i.faults {
            release(i.lease)
            have[d] = nil
        }
        for (d, faults) in want.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where have[d] == nil {
            have[d] = Installed(
                faults: faults, lease: try install(faults, direction: d, port: proxy.upstream.port, host: host))
        }
    }

    private func install(_ faults: KernelMapping.Faults, direction: Direction, port: UInt16, host: IPAddress?) throws
        -> Lease
    {
        if !faults.netem.isEmpty { try faults.netem.validate() }
        try faults.filter.validate(direction: direction, netem: faults.netem)
        let request = Self.request(
            faults, direction: direction, port: port, host: host,
            duration: tables != nil ? Self.leaseTimeout : LeaseLimits.maximumDuration)
        if let tables {
            // Owner tables work here (the probe said so): netem bands are steered by them too.
            let policy = LeasePolicy(steerWithNFTables: true)
            return .held(try manager.hold(request, policy: policy, tables: tables, timeout: Self.leaseTimeout))
        }
        let status = try manager.apply(
            request, policy: .u32, executable: executable, controller: ProcessIdentity.current())
        return .watched(status.lease.id)
    }

    /// The lease request for a proxy's faults on one stream; `host`: the upstream's `address`. A
    /// loopback upstream (no host) is a server on this host, listening yet or not: said here, so
    /// that no toxic waits for a dump of the listening sockets to find that out (nor takes a
    /// server that has not started for a remote one).
    static func request(
        _ faults: KernelMapping.Faults, direction: Direction, port: UInt16, host: IPAddress?, duration: Duration
    ) -> FaultRequest {
        FaultRequest(
            target: Target(ports: [port], host: host), direction: direction, netem: faults.netem,
            filter: faults.filter, device: nil, duration: duration, server: host == nil ? .local : nil)
    }

    private func release(_ lease: Lease) {
        do {
            switch lease {
            case .held(let h): try manager.release(h)
            case .watched(let id): _ = try manager.revert(id: id)
            }
        } catch {
            writeStandardError("netfault serve: removing a lease failed: \(error)\n")
        }
    }

    private func renewLoop() {
        let every = UInt64(Self.leaseTimeout.nanoseconds / 3)
        var last = MonotonicClock.nanoseconds()
        state.lock()
        defer { state.unlock() }
        while !stopping {
            // On the monotonic clock, as the kernel expires the elements: a clock stepped back
            // must not hold the renewals back until the faults expire.
            state.wait(untilMonotonic: last + every)
            guard !stopping else { break }
            guard MonotonicClock.nanoseconds() >= last + every else { continue }
            last = MonotonicClock.nanoseconds()
            for (proxy, leases) in installed {
                for (_, i) in leases {
                    guard case .held(let h) = i.lease else { continue }
                    do { try manager.renew(h, timeout: Self.leaseTimeout) } catch {
                        writeStandardError(
                            "netfault serve: renewing lease \(h.id) of proxy \(proxy) failed: \(error)\n")
                    }
                }
            }
        }
    }
}
