import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// Plan → steps → requests: each step prints as the very command a fixture was captured from,
/// and makes the very bytes iproute2 sent for it.
@Suite struct StepFixtureTests {
    static let ms = Duration.milliseconds
    static let steps: [String: TCStep] = [
        "prio_root": .addRootPrio(device: "lo"),
        "netem_delay": .addNetem(device: "lo", band: 2, netem: NetemSpec(delay: ms(100), limit: 1000)),
        "netem_limit": .addNetem(device: "lo", band: 2, netem: NetemSpec(delay: ms(100))),
        "netem_limit_small": .addNetem(device: "lo", band: 3, netem: NetemSpec(loss: Percent(30), limit: 100)),
        "netem_loss": .addNetem(device: "lo", band: 3, netem: NetemSpec(loss: Percent(30))),
        "netem_reorder": .addNetem(device: "lo", band: 2, netem: NetemSpec(delay: ms(10), reorder: Percent(50))),
        "netem_dist": .addNetem(
            device: "lo", band: 4,
            netem: NetemSpec(delay: ms(10), jitter: ms(2), distribution: .normal, limit: 1000)),
        "u32_v4_dport": .addBandFilter(
            device: "lo", band: 2, match: PortMatch(family: .ipv4, side: .destination, port: 6379)),
        "u32_v4_sport_src": .addBandFilter(
            device: "lo", band: 2,
            match: PortMatch(
                family: .ipv4, side: .source, port: 3306, host: IPAddress("127.0.0.2"))),
        "u32_v6_dport_dst": .addBandFilter(
            device: "lo", band: 2,
            match: PortMatch(
                family: .ipv6, side: .destination, port: 6379, host: IPAddress("::1"))),
        "ingress": .addIngress(device: "lo"),
        "u32_redirect": .addRedirect(
            device: "lo", band: 2, match: PortMatch(family: .ipv4, side: .source, port: 6379), ifb: "lo"),
        "ifb_add": .createIfb(name: "nfifb1"),
        "link_up": .linkUp(device: "lo")
    ]

    /// The feature each step's request needs, which a FeatureMissing then names.
    static func feature(_ fixture: String) -> KernelFeature? {
        if fixture.hasPrefix("netem_") { return .netem }
        if fixture.hasPrefix("u32_") { return .u32 }
        return ["prio_root": .prio, "ifb_add": .ifbMirred][fixture]
    }

    @Test(arguments: steps.keys.sorted())
    func commandAndBytes(_ name: String) throws {
        let fixture = try #require(Fixture.all[name])
        let step = try #require(Self.steps[name])
        #expect(step.command == fixture.command)
        let table = name == "netem_dist" ? try DistributionTables.load(.normal) : nil
        let call = try step.kernelCall(distributionTable: table) { _ in 1 }
        #expect(withoutSeqAndPid(call.request.bytes(seq: 0)) == withoutSeqAndPid(fixture.bytes), "\(name)")
        #expect(call.feature == Self.feature(name), "\(name)")
    }

    @Test("netem_all and the prefix matches print as their fixtures' commands")
    func moreCommands() throws {
        let all = NetemSpec(
            delay: Self.ms(100), jitter: Self.ms(10), delayCorrelation: Percent(25), loss: Percent(5),
            lossCorrelation: Percent(25), duplicate: Percent(1), corrupt: Percent(0.1),
            reorder: Percent(25), gap: 5, rate: try Rate.parse("1mbit"), limit: 1000)
        #expect(TCStep.addNetem(device: "lo", band: 2, netem: all).command == Fixture.all["netem_all"]?.command)
        let v6 = PortMatch(family: .ipv6, side: .source, port: 3306, address: try IPPrefix.parse("2001:db8:80::/41"))
        #expect(
            TCStep.addBandFilter(device: "lo", band: 2, match: v6).command
                == Fixture.all["u32_v6_sport_src_prefix"]?.command)
    }
}

/// Which steps a plan needs, from the snapshot alone.
@Suite struct PlanStepTests {
    let netem = NetemSpec(delay: .milliseconds(5))

    func plan(_ direction: Direction, loopback: Bool) throws -> LeasePlan {
        let dev = DeviceState(name: loopback ? "lo" : "eth0", root: .kernelDefault(kind: "noqueue"))
        return try Planner.plan(
            target: Target.parse("redis"), direction: direction, netem: netem, device: dev,
            isLoopback: loopback, deviceIndex: 4)
    }

    @Test("a fresh device gets its root first, then the netem band and its filters")
    func freshDevice() throws {
        let steps = Planner.steps(
            for: try plan(.toServer, loopback: true),
            devices: ["lo": DeviceState(name: "lo", root: .kernelDefault(kind: "noqueue"))])
        #expect(
            steps.map(\.command).map { $0.split(separator: " ").prefix(3).joined(separator: " ") } == [
                "tc qdisc add", "tc qdisc add", "tc filter add", "tc filter add"
            ])
        #expect(steps.first == .addRootPrio(device: "lo"))
    }

    @Test("a device that has netfault's root gets no second one")
    func existingRoot() throws {
        let steps = Planner.steps(
            for: try plan(.toServer, loopback: true),
            devices: ["lo": DeviceState(name: "lo", root: .ours(usedBands: [3]))])
        #expect(!steps.contains(.addRootPrio(device: "lo")))
    }

    @Test("from-server on a device: the ifb is made and brought up, its root, then ingress and redirects")
    func ifbSteps() throws {
        let p = try plan(.fromServer, loopback: false)
        let missing = DeviceState(name: "nfifb4", root: .kernelDefault(kind: "none"), exists: false)
        let steps = Planner.steps(
            for: p,
            devices: [
                "eth0": DeviceState(name: "eth0", root: .kernelDefault(kind: "noqueue")),
                "nfifb4": missing
            ])
        #expect(
            Array(steps.prefix(3)) == [
                .createIfb(name: "nfifb4"), .linkUp(device: "nfifb4"), .addRootPrio(device: "nfifb4")
            ])
        #expect(steps.contains(.addIngress(device: "eth0")))
        #expect(steps.filter { if case .addRedirect = $0 { true } else { false } }.count == 2)
        let withIngress = Planner.steps(
            for: p,
            devices: [
                "eth0": DeviceState(name: "eth0", root: .kernelDefault(kind: "noqueue"), hasIngress: true),
                "nfifb4": DeviceState(name: "nfifb4", root: .ours(usedBands: [5]))
            ])
        #expect(!withIngress.contains(.addIngress(device: "eth0")) && !withIngress.contains(.createIfb(name: "nfifb4")))
    }

    @Test("the nf_tables part prints as an nft script with the owner flag, the lease's set, its chains and rules")
    func nftScript() {
        let f = FilterPlanner.plan(
            leaseID: "nf-000001", target: Target(ports: [6379, 6380]), peers: [], direction: .both,
            spec: FilterSpec(action: .blackhole))!
        let script = f.nftScript(timeout: .seconds(30))
        #expect(
            script.hasPrefix(
                """
                table inet netfault-nf-000001 {
                \tflags owner
                \tset lease {
                \t\ttype inet_service; flags timeout;
                \t\telements = { 6379 timeout 30s, 6380 timeout 30s }
                \t}
                \tchain output {
                """))
        #expect(script.contains("type filter hook input priority -150; policy accept;"))
        #expect(script.contains("tcp dport @lease counter drop comment \"netfault nf-000001: blackhole\""))
        #expect(f.rules.count == 2)  // one per side, whatever the number of ports
    }

    @Test("with nf_tables, leaving traffic is steered by the lease's table: no u32 filters, kernel-enforced")
    func steeredBands() throws {
        let device = DeviceState(name: "lo", root: .kernelDefault(kind: "noqueue"))
        let plan = try Planner.plan(
            target: Target(ports: [6379]), direction: .both, netem: NetemSpec(delay: .milliseconds(100)),
            device: device, isLoopback: true, deviceIndex: 1, steerWithNFTables: true)
        #expect(plan.enforcement == .kernel)
        let steps = Planner.steps(for: plan, devices: ["lo": device])
        #expect(steps == [.addRootPrio(device: "lo"), .addNetem(device: "lo", band: 2, netem: plan.bands[0].netem)])
        let rules = FilterPlanner.steering(plan.bands[0], leaseID: "nf-000001")
        #expect(
            rules.map(\.nftSyntax) == [
                "oifname \"lo\" meta l4proto tcp tcp dport @lease counter meta priority set 6e66:2 comment "
                    + "\"netfault nf-000001: delay 100ms\"",
                "oifname \"lo\" meta l4proto tcp tcp sport @lease counter meta priority set 6e66:2 comment "
                    + "\"netfault nf-000001: delay 100ms\""
            ])
        let u32 = try Planner.plan(
            target: Target(ports: [6379]), direction: .both, netem: NetemSpec(delay: .milliseconds(100)),
            device: device, isLoopback: true, deviceIndex: 1, steerWithNFTables: false)
        #expect(u32.enforcement == .watchdog)
        #expect(Planner.steps(for: u32, devices: ["lo": device]).count == 6)  // root, netem, 4 filters
    }

    @Test("arriving traffic reaches tc before netfilter: its ifb band keeps u32 filters, and the watchdog the deadline")
    func ingressIsWatchdogEnforced() throws {
        let plan = try Planner.plan(
            target: try Target.parse("6379", host: "10.0.0.2"), direction: .both,
            netem: NetemSpec(delay: .milliseconds(10)),
            device: DeviceState(name: "eth0", root: .kernelDefault(kind: "noqueue")), isLoopback: false,
            deviceIndex: 4, steerWithNFTables: true)
        #expect(plan.bands.map(\.steeredByNFTables) == [true, false])
        #expect(plan.enforcement == .watchdog)
    }
}
