import NetFaultCore
import Testing

/// --connect-delay and --slow-close: a netem band each, which only their packets are steered to.
struct ConnectionPhaseTests {
    static let eth0 = LeaseSnapshot.Device(
        name: "eth0", index: 2, isLoopback: false,
        state: DeviceState(name: "eth0", root: .kernelDefault(kind: "fq_codel")),
        ifb: DeviceState(name: Ownership.ifbName(forIndex: 2), root: .kernelDefault(kind: "none"), exists: false))
    static let steer = LeasePolicy(steerWithNFTables: true)

    static func request(
        _ netem: NetemSpec, direction: Direction = .toServer, server: ServerLocation
    ) -> FaultRequest {
        FaultRequest(
            target: Target(ports: [6379], name: "redis"), direction: direction, netem: netem, device: nil,
            duration: .seconds(60), server: server)
    }

    static func steering(_ p: LeasePreview) -> [FilterRule] { p.plan.filter?.rules ?? [] }

    @Test("--connect-delay to a remote server: its own band, steered only the client's SYN to the port")
    func connectRemote() throws {
        let r = Self.request(NetemSpec(connectDelay: .milliseconds(300)), server: .remote)
        let p = try LeasePlanner.preview(
            r, policy: Self.steer, snapshot: LeaseSnapshot(server: .remote, device: Self.eth0), id: "nf-0000c1")
        #expect(p.plan.bands.count == 1 && p.plan.redirects.isEmpty)
        let band = try #require(p.plan.bands.first)
        #expect(band.phase == .connect && band.netem == NetemSpec(delay: .milliseconds(300)))
        #expect(band.steeredByNFTables && p.plan.enforcement == .kernel)
        let rules = Self.steering(p)
        #expect(!rules.isEmpty && rules.allSatisfy { $0.flags == .synOnly && $0.side == .destination })
        #expect(rules.allSatisfy { $0.band == band.band && $0.comment.hasSuffix(": connect-delay 300ms") })
        #expect(rules.first?.nftSyntax.contains("tcp dport @lease tcp flags & (syn | ack) == syn counter") == true)
    }

    @Test("--connect-delay with a local server: its SYN-ACK, whatever the direction")
    func connectLocal() throws {
        let r = Self.request(NetemSpec(connectDelay: .milliseconds(300)), direction: .toServer, server: .local)
        let p = try LeasePlanner.preview(
            r, policy: Self.steer, snapshot: LeaseSnapshot(server: .local, device: LeasePlannerTests.lo),
            id: "nf-0000c2")
        let rules = Self.steering(p)
        #expect(p.plan.bands.count == 1)
        #expect(!rules.isEmpty && rules.allSatisfy { $0.flags == .synAck && $0.side == .source })
    }

    @Test("--slow-close and --delay together: three bands' rules, the phases' last so that their packets end there")
    func phasesAfterPlainBand() throws {
        let netem = NetemSpec(
            delay: .milliseconds(20), connectDelay: .milliseconds(300), slowClose: .seconds(1))
        let r = Self.request(netem, direction: .both, server: .local)
        let p = try LeasePlanner.preview(
            r, policy: Self.steer, snapshot: LeaseSnapshot(server: .local, device: LeasePlannerTests.lo),
            id: "nf-0000c3")
        #expect(p.plan.bands.map(\.phase) == [nil, .connect, .close])
        #expect(Set(p.plan.bands.map(\.band)).count == 3)
        #expect(p.plan.bands[0].netem == NetemSpec(delay: .milliseconds(20)))
        let flags = Self.steering(p).map(\.flags)
        #expect(flags.firstIndex(of: nil)! < flags.firstIndex(of: .synAck)!)
        #expect(flags.filter { $0 == .fin }.count == 2)  // loopback: both ends' FINs leave through lo
        #expect(p.steps.filter { if case .addNetem = $0 { true } else { false } }.count == 3)
    }

    @Test("without nf_tables' steering: exit 69 naming the options, before any step")
    func needsNFTables() {
        let r = Self.request(NetemSpec(slowClose: .seconds(1)), server: .remote)
        #expect(throws: Unavailable.self) {
            _ = try LeasePlanner.preview(
                r, policy: .u32, snapshot: LeaseSnapshot(server: .remote, device: Self.eth0), id: "nf-0000c4")
        }
    }

    @Test("--slow-close on a remote server's FINs (they arrive): refused, naming the direction that works")
    func slowCloseArriving() {
        let r = Self.request(NetemSpec(slowClose: .seconds(1)), direction: .fromServer, server: .remote)
        #expect(throws: InputError.self) {
            _ = try LeasePlanner.preview(
                r, policy: Self.steer, snapshot: LeaseSnapshot(server: .remote, device: Self.eth0), id: "nf-0000c5")
        }
    }

    @Test("validation: a phase alone is a fault; zero or over a minute is refused", arguments: [
        ("0s", false), ("61s", false), ("300ms", true)
    ])
    func validate(text: String, ok: Bool) throws {
        let d = try Duration.parse(text, what: "--connect-delay")
        let spec = NetemSpec(connectDelay: d)
        #expect(!spec.isEmpty)
        if ok {
            try spec.validate()
            #expect(spec.summary == "connect-delay \(d)")
        } else {
            #expect(throws: InputError.self) { try spec.validate() }
        }
    }
}

/// serve's latency: its band's steering rules skip the handshake (SYN and SYN-ACK).
struct SparedHandshakeTests {
    @Test("a band that spares the handshake is steered only packets without SYN; a plain one every packet")
    func steering() throws {
        for spares in [true, false] {
            var netem = NetemSpec(delay: .milliseconds(100))
            netem.sparesHandshake = spares ? true : nil
            let r = FaultRequest(
                target: Target(ports: [6379], name: "redis"), direction: .both, netem: netem, device: nil,
                duration: .seconds(60), server: .local)
            let p = try LeasePlanner.preview(
                r, policy: ConnectionPhaseTests.steer,
                snapshot: LeaseSnapshot(server: .local, device: LeasePlannerTests.lo), id: "nf-0000c6")
            let rules = p.plan.filter?.rules ?? []
            #expect(!rules.isEmpty && rules.allSatisfy { $0.flags == (spares ? .notSyn : nil) })
            #expect(p.plan.bands.count == 1 && !netem.isEmpty)
        }
    }
}
