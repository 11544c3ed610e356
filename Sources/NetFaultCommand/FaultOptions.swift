import ArgumentParser
import NetFaultCore
import NetFaultKernel
import NetFaultLeases

/// TARGET plus where its traffic is matched.
public struct TargetOptions: ParsableArguments {
    public init() {}
    @Argument(
        help: ArgumentHelp(
            "mysql, redis, postgres, memcached, a port number, or a comma list of those (e.g. mysql,6380).",
            valueName: "target"))
    public var target: String

    @Option(
        help: ArgumentHelp(
            "Only traffic to/from this server address (IPv4 or IPv6). Without it every address matches.",
            valueName: "addr"))
    public var host: String?

    @Option(
        name: .customLong("peer"), parsing: .singleValue,
        help: ArgumentHelp(
            """
            Only traffic between this host and these server address blocks (CIDR, repeatable), e.g. for partitions \
            between named hosts. --host is the same for one address.
            """,
            valueName: "cidr"))
    public var peers: [String] = []

    @Option(
        help: ArgumentHelp(
            """
            Device for netem faults. Default: the one the kernel routes --host (or every --peer block) through, else \
            lo. Connection faults match on every device.
            """,
            valueName: "if"))
    public var iface: String?

    @Option(
        help: ArgumentHelp(
            """
            to-server: packets whose destination port is the target (requests; a round trip grows \
            by the delay once). from-server: packets whose source port is the target (responses; \
            incoming for a remote server, shaped through an ifb device). both: either way.
            """, valueName: "d"))
    public var direction: String = Direction.toServer.rawValue

    @Option(
        help: ArgumentHelp(
            """
            local: the server runs in this network namespace (a sidecar container sharing the service's), so its \
            requests are caught arriving and its responses leaving, from clients on other hosts too. \
            remote: the server is elsewhere; requests are caught leaving. \
            Default: local when something here listens on a target port and neither --host nor --peer is given.
            """, valueName: "where"))
    public var server: String?

    public func serverLocation() throws -> ServerLocation? {
        guard let server else { return nil }
        guard let s = ServerLocation(rawValue: server) else {
            throw InputError("--server '\(server)' is not one of local, remote")
        }
        if s == .local && (host != nil || !peers.isEmpty) {
            throw InputError("--host and --peer name a remote server's addresses; with --server local leave them out")
        }
        return s
    }

    public func parsed() throws -> (Target, Direction, [IPPrefix]) {
        guard let d = Direction(rawValue: direction) else {
            throw InputError("--direction '\(direction)' is not one of to-server, from-server, both")
        }
        if host != nil && !peers.isEmpty {
            throw InputError("give --host (one server address) or --peer (address blocks), not both")
        }
        return (try Target.parse(target, host: host), d, try peers.map { try IPPrefix.parse($0) })
    }
}

/// The netem faults, as typed text; parsed into NetemSpec with one message per mistake.
public struct NetemOptions: ParsableArguments {
    public init() {}
    @Option(
        help: ArgumentHelp("Add this delay to every matched packet (us, ms, s), e.g. 100ms.", valueName: "duration"))
    public var delay: String?
    @Option(help: ArgumentHelp("Vary the delay by up to this much (needs --delay).", valueName: "duration"))
    public var jitter: String?
    @Option(
        name: .customLong("delay-correlation"),
        help: ArgumentHelp("How much each jitter value depends on the last (needs --jitter).", valueName: "percent"))
    public var delayCorrelation: String?
    @Option(
        help: ArgumentHelp(
            "Shape of the jitter: normal, pareto or paretonormal (needs --delay and --jitter).", valueName: "name"))
    public var distribution: String?
    @Option(help: ArgumentHelp("Drop this share of matched packets, e.g. 5%.", valueName: "percent"))
    public var loss: String?
    @Option(
        name: .customLong("loss-correlation"),
        help: ArgumentHelp(
            "How much each loss decision depends on the last (needs --loss); makes bursts.", valueName: "percent"))
    public var lossCorrelation: String?
    @Option(help: ArgumentHelp("Send this share of matched packets twice.", valueName: "percent"))
    public var duplicate: String?
    @Option(help: ArgumentHelp("Flip a random bit in this share of matched packets.", valueName: "percent"))
    public var corrupt: String?
    @Option(
        help: ArgumentHelp(
            "Send this share of packets at once while the rest wait the delay (needs --delay).", valueName: "percent"))
    public var reorder: String?
    @Option(help: ArgumentHelp("Reorder every Nth packet instead of at random (needs --reorder).", valueName: "n"))
    public var gap: String?
    @Option(
        help: ArgumentHelp(
            "Limit matched traffic to this rate: kbit, mbit, gbit (bits) or kbps, mbps (bytes).", valueName: "rate"))
    public var rate: String?
    @Option(
        help: ArgumentHelp(
            """
            The most packets netem's queue holds at once (delayed, rate-limited or waiting to be reordered); a \
            packet that finds it full is dropped. Default: room for 100,000 packets a second (a busy client on \
            loopback) over the delay plus jitter, and for --rate over the same time, at least 1000 (tc's default) \
            and at most 1000000. The limit only caps the queue; memory goes to the packets actually in it. Needs a \
            netem fault.
            """, valueName: "packets"))
    public var limit: String?
    @Option(
        name: .customLong("connect-delay"),
        help: ArgumentHelp(
            """
            Hold back each new connection's one handshake packet that leaves this host (the client's SYN to a \
            remote server, a local server's SYN-ACK) this long: connect() takes that much longer, once, and the \
            connection's round trips do not change (a slow accept queue). Needs nf_tables. E.g. 300ms.
            """, valueName: "duration"))
    public var connectDelay: String?
    @Option(
        name: .customLong("slow-close"),
        help: ArgumentHelp(
            """
            Hold back the FINs leaving this host in --direction this long (Toxiproxy's slow_close): the peer reads \
            EOF that much after the close, the data before it on time. from-server: a local server's FINs; \
            to-server: the client's. Needs nf_tables. E.g. 1s.
            """, valueName: "duration"))
    public var slowClose: String?

    public func spec() throws -> NetemSpec {
        var s = NetemSpec()
        s.delay = try delay.map { try Duration.parse($0, what: "--delay") }
        s.jitter = try jitter.map { try Duration.parse($0, what: "--jitter") }
        s.delayCorrelation = try delayCorrelation.map { try Percent.parse($0, what: "--delay-correlation") }
        if let distribution {
            guard let d = Distribution(rawValue: distribution.lowercased()) else {
                throw InputError("--distribution '\(distribution)' is not one of normal, pareto, paretonormal")
            }
            s.distribution = d
        }
        s.loss = try loss.map { try Percent.parse($0, what: "--loss") }
        s.lossCorrelation = try lossCorrelation.map { try Percent.parse($0, what: "--loss-correlation") }
        s.duplicate = try duplicate.map { try Percent.parse($0, what: "--duplicate") }
        s.corrupt = try corrupt.map { try Percent.parse($0, what: "--corrupt") }
        s.reorder = try reorder.map { try Percent.parse($0, what: "--reorder") }
        if let gap {
            guard let g = UInt32(gap), g >= 1 else {
                throw InputError("--gap '\(gap)' must be a whole number of packets, 1 or more")
            }
            s.gap = g
        }
        s.rate = try rate.map { try Rate.parse($0) }
        s.limit = try limit.map(NetemSpec.parseLimit)
        s.connectDelay = try connectDelay.map { try Duration.parse($0, what: "--connect-delay") }
        s.slowClose = try slowClose.map { try Duration.parse($0, what: "--slow-close") }
        if !s.isEmpty || s.limit != nil { try s.validate() }
        return s
    }
}

/// The connection faults netfilter applies (nf_tables), as typed text.
public struct FilterOptions: ParsableArguments {
    public init() {}
    @Flag(
        help: ArgumentHelp(
            "Drop matched packets silently: connect times out, open connections stall (a pulled cable, a dead host)."))
    public var blackhole = false
    @Flag(
        help: ArgumentHelp(
            """
            Answer new connections with a TCP reset: connect fails at once with ECONNREFUSED; open connections keep \
            working (a stopped server).
            """
        ))
    public var reject = false
    @Flag(
        help: ArgumentHelp(
            """
            Answer every matched packet with a TCP reset: open connections fail with ECONNRESET on their next send, \
            new ones are refused (a crashed server).
            """
        ))
    public var reset = false
    @Flag(
        help: ArgumentHelp(
            """
            Let the TCP handshake through, then drop everything else: connect succeeds, then nothing arrives (a hung \
            server).
            """
        ))
    public var hang = false
    @Option(
        name: .customLong("loss-nft"),
        help: ArgumentHelp(
            "Drop this share of matched packets in netfilter, for kernels without netem, e.g. 5%.", valueName: "percent"
        ))
    public var lossNft: String?
    @Option(
        help: ArgumentHelp(
            """
            Only this share of new connections meets the lease's faults: P% (about P in 100, drawn at random) \
            or every:N (the Nth, 2Nth, ... new connection, counted per address family). Each connection is drawn \
            once, at its SYN, and keeps its lot for its life; connections open before the lease are left alone. \
            Netem faults take the drawn connections' packets leaving this host (nf_tables steers them; not a \
            remote server's responses). A mix gives each of up to 4 connection faults a share of its own, \
            without --blackhole, --reject, --reset or --hang and without netem faults: 30%:reject,10%:hang \
            refuses about 30% of new connections, hangs about 10% others and leaves the rest alone; no \
            connection is in two groups.
            """,
            valueName: "share"))
    public var connections: String?
    @OptionGroup public var life: ConnectionLifeOptions

    public func spec(direction: Direction, netem: NetemSpec) throws -> FilterSpec {
        if let connections, ConnectionMix.isMix(connections) { return try mixSpec(connections, direction, netem) }
        let chosen: [(Bool, FilterSpec.Action)] = [
            (blackhole, .blackhole), (reject, .reject), (reset, .reset), (hang, .hang)
        ]
        let actions = chosen.filter(\.0).map(\.1)
        if actions.count > 1 {
            throw InputError(
                """
                \(actions.map(\.option).joined(separator: " and ")) cannot be combined; a connection meets one of \
                --blackhole, --reject, --reset, --hang
                """
            )
        }
        let s = FilterSpec(
            action: actions.first, loss: try lossNft.map { try Percent.parse($0, what: "--loss-nft") },
            connections: try connections.map(ConnectionShare.parse), life: try life.parsed())
        try s.validate(direction: direction, netem: netem)
        return s
    }
}

/// Which network namespace a command works in.
public struct NamespaceOptions: ParsableArguments {
    public init() {}
    @Option(
        help: ArgumentHelp(
            "Work in this named network namespace (as `ip netns list` shows it, under /run/netns).", valueName: "name"))
    public var netns: String?

    @Option(
        name: .customLong("netns-pid"),
        help: ArgumentHelp("Work in the network namespace of this process (e.g. a container's).", valueName: "pid"))
    public var netnsPid: Int32?

    public func resolved() throws -> NetworkNamespace? { try NetworkNamespace.resolve(name: netns, pid: netnsPid) }
}

/// What apply and run both take to describe a lease: where, which faults, which namespace.
public struct LeaseOptions: ParsableArguments {
    public init() {}
    @OptionGroup(title: "Where") public var where_: TargetOptions
    @OptionGroup(title: "Netem faults (traffic control; need CONFIG_NET_SCH_NETEM)") public var faults: NetemOptions
    @OptionGroup(title: "Connection faults (nf_tables)") public var connection: FilterOptions
    @OptionGroup(title: "Whose connections (default: everyone's)") public var scope: ScopeOptions
    @OptionGroup public var namespace: NamespaceOptions

    /// The lease request, parsed and validated; touches nothing. `commandScope`: run --scope
    /// command's cgroup, made for the run.
    public func request(duration: String, commandScope: SocketScope? = nil) throws -> FaultRequest {
        let (target, direction, peers) = try where_.parsed()
        let netem = try faults.spec()
        var filter = try connection.spec(direction: direction, netem: netem)
        if netem.isEmpty && filter.isEmpty {
            throw InputError(
                """
                no fault given; add at least one of --delay, --loss, --duplicate, --corrupt, --reorder, --rate, \
                --connect-delay, --slow-close (netem) or --blackhole, --reject, --reset, --hang, --loss-nft (netfilter)
                """
            )
        }
        if netem.isEmpty && where_.iface != nil {
            throw InputError(
                """
                --iface picks the device for netem faults; netfilter faults match on every interface (narrow them \
                with --host or --peer)
                """
            )
        }
        let d = try Duration.parse(duration, what: "--for")
        try LeaseLimits.validate(d)
        let server = try where_.serverLocation()
        if commandScope != nil && (scope.uid != nil || scope.cgroup != nil) {
            throw InputError("--scope command scopes the faults to the command; leave out --uid and --cgroup")
        }
        filter.scope = try commandScope ?? scope.resolved()
        try filter.validateMix()
        return FaultRequest(
            target: target, direction: direction, netem: netem, filter: filter, peers: peers,
            device: where_.iface, duration: d, netns: try namespace.resolved(), server: server)
    }
}
