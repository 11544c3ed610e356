import Foundation
import Testing
@testable import NetFaultCore

@Suite struct PlannerTests {
    let netem = NetemSpec(delay: .milliseconds(100))
    let lo = DeviceState(name: "lo", root: .kernelDefault(kind: "noqueue"))
    let eth0 = DeviceState(name: "eth0", root: .kernelDefault(kind: "fq_codel"))

    func plan(
        _ target: String, host: String? = nil, _ direction: Direction, device: DeviceState? = nil,
        loopback: Bool = true, index: Int32 = 1, ifb: DeviceState? = nil
    ) throws -> LeasePlan {
        try Planner.plan(
            target: Target.parse(target, host: host), direction: direction, netem: netem,
            device: device ?? lo, isLoopback: loopback, deviceIndex: index, ifbState: ifb)
    }

    @Test func loopbackToServer() throws {
        let p = try plan("redis,mysql", .toServer)
        #expect(p.redirects.isEmpty)
        let band = try #require(p.bands.first)
        #expect(p.bands.count == 1)
        #expect(band.device == "lo" && band.band == 2 && band.netem == netem)
        #expect(
            band.matches == [
                PortMatch(family: .ipv4, side: .destination, port: 6379),
                PortMatch(family: .ipv4, side: .destination, port: 3306),
                PortMatch(family: .ipv6, side: .destination, port: 6379),
                PortMatch(family: .ipv6, side: .destination, port: 3306)
            ])
        #expect(band.families == [.ipv4, .ipv6])
        #expect(p.devices == ["lo"])
    }

    @Test func loopbackBothDirectionsShareOneBand() throws {
        let p = try plan("mysql", .both)
        #expect(p.redirects.isEmpty)
        #expect(p.bands.count == 1)
        #expect(
            Set(try #require(p.bands.first).matches) == [
                PortMatch(family: .ipv4, side: .destination, port: 3306),
                PortMatch(family: .ipv6, side: .destination, port: 3306),
                PortMatch(family: .ipv4, side: .source, port: 3306),
                PortMatch(family: .ipv6, side: .source, port: 3306)
            ])
    }

    @Test func loopbackFromServerStaysOnLoopback() throws {
        let p = try plan("mysql", .fromServer)
        #expect(p.redirects.isEmpty)
        #expect(p.bands.map(\.device) == ["lo"])
        #expect(p.bands.first?.matches.allSatisfy { $0.side == .source } == true)
    }

    @Test("--peer blocks give one match per block and port, each in its block's family")
    func peersNarrow() throws {
        let peers = [try IPPrefix.parse("10.64.0.0/10"), try IPPrefix.parse("fd00::/64")]
        let (to, from) = PortMatch.matches(for: try Target.parse("mysql,redis"), peers: peers, direction: .both)
        #expect(
            to.map(\.description) == [
                "ipv4 tcp dst port 3306 dst 10.64.0.0/10", "ipv4 tcp dst port 6379 dst 10.64.0.0/10",
                "ipv6 tcp dst port 3306 dst fd00::/64", "ipv6 tcp dst port 6379 dst fd00::/64"
            ])
        #expect(from.allSatisfy { $0.side == .source && $0.address != nil })
        // A lease journalled with a bare --host address still decodes (as a full-length prefix).
        let old = #"{"family":"ipv4","side":"destination","port":6379,"address":"127.0.0.2"}"#
        let m = try JSONDecoder().decode(PortMatch.self, from: Data(old.utf8))
        #expect(m.address == IPPrefix(host: IPAddress("127.0.0.2")!))
    }

    @Test func hostNarrowsToItsFamily() throws {
        let host = try #require(IPAddress("::1"))
        let p = try plan("redis", host: "::1", .toServer)
        let band = try #require(p.bands.first)
        #expect(band.matches == [PortMatch(family: .ipv6, side: .destination, port: 6379, host: host)])
        #expect(band.families == [.ipv6])

        let v4 = try plan("redis", host: "127.0.0.2", .toServer)
        #expect(v4.bands.first?.matches.map(\.family) == [.ipv4])
        #expect(v4.bands.first?.matches.first?.address?.address == IPAddress("127.0.0.2"))
    }

    @Test func fromServerOnDeviceUsesIfbAndRedirect() throws {
        let p = try plan("redis", .fromServer, device: eth0, loopback: false, index: 3)
        let source = [
            PortMatch(family: .ipv4, side: .source, port: 6379),
            PortMatch(family: .ipv6, side: .source, port: 6379)
        ]
        #expect(p.bands == [BandPlan(device: "nfifb3", band: 2, netem: netem, matches: source)])
        #expect(p.redirects == [RedirectPlan(device: "eth0", ifb: "nfifb3", band: 2, matches: source)])
        #expect(p.devices == ["nfifb3", "eth0"])
    }

    @Test func bothOnDeviceShapesEachWay() throws {
        let ifb = DeviceState(name: "nfifb3", root: .ours(usedBands: [2]))
        let p = try plan("redis", .both, device: eth0, loopback: false, index: 3, ifb: ifb)
        #expect(p.bands.map(\.device) == ["eth0", "nfifb3"])
        #expect(p.bands.map(\.band) == [2, 3])
        #expect(p.bands[0].matches.allSatisfy { $0.side == .destination })
        #expect(p.bands[1].matches.allSatisfy { $0.side == .source })
        #expect(p.redirects.map(\.band) == [3])
    }

    @Test func picksFirstFreeBand() throws {
        let p = try plan("redis", .toServer, device: DeviceState(name: "lo", root: .ours(usedBands: [2, 3])))
        #expect(p.bands.first?.band == 4)
        let gap = try plan("redis", .toServer, device: DeviceState(name: "lo", root: .ours(usedBands: [2, 4])))
        #expect(gap.bands.first?.band == 3)
    }

    @Test func allBandsUsed() throws {
        let full = DeviceState(name: "lo", root: .ours(usedBands: Set(Ownership.leaseBands)))
        let error = #expect(throws: PlanConflict.self) { try plan("redis", .toServer, device: full) }
        #expect(error?.message.contains("already carries 15 netfault leases") == true)
        let almost = DeviceState(name: "lo", root: .ours(usedBands: Set(2...15)))
        #expect(try plan("redis", .toServer, device: almost).bands.first?.band == 16)
    }

    @Test func foreignRootIsNeverReplaced() {
        let htb = DeviceState(name: "eth0", root: .foreign(kind: "htb", handle: 0x0001_0000))
        let error = #expect(throws: PlanConflict.self) {
            try plan("redis", .toServer, device: htb, loopback: false, index: 2)
        }
        #expect(error?.message.contains("root qdisc 'htb' (handle 1:)") == true)
        #expect(error?.message.contains("eth0") == true)
    }

    @Test func foreignIngressBlocksFromServer() throws {
        let dev = DeviceState(name: "eth0", root: .kernelDefault(kind: "mq"), foreignIngress: true)
        let error = #expect(throws: PlanConflict.self) {
            try plan("redis", .fromServer, device: dev, loopback: false, index: 2)
        }
        #expect(error?.message.contains("ingress qdisc") == true)
        // Outgoing faults do not need ingress.
        #expect(try plan("redis", .toServer, device: dev, loopback: false, index: 2).bands.count == 1)
    }

    @Test func ownershipNumbers() {
        #expect(Ownership.filterPriority(band: 2, family: .ipv4) == 28164)
        #expect(Ownership.filterPriority(band: 2, family: .ipv6) == 28165)
        #expect(Ownership.netemMajor(band: 2) == 0x6e02)
        #expect(Ownership.isOwnBand(netemMajor: 0x6e10) && !Ownership.isOwnBand(netemMajor: 0x6e01))
        #expect(Ownership.ifbName(forIndex: 7) == "nfifb7")
    }
}

/// Bands another live netfault claimed (a container sharing the namespace) are never planned.
@Suite struct ClaimedBandTests {
    let netem = NetemSpec(delay: .milliseconds(1))

    func band(_ device: DeviceState) throws -> UInt16 {
        try #require(
            Planner.plan(
                target: Target.parse("redis"), direction: .toServer, netem: netem, device: device,
                isLoopback: true, deviceIndex: 1
            ).bands.first
        ).band
    }

    @Test func claimedBandsAreSkipped() throws {
        #expect(try band(DeviceState(name: "lo", root: .kernelDefault(kind: "noqueue"), claimed: [2])) == 3)
        #expect(try band(DeviceState(name: "lo", root: .ours(usedBands: [2]), claimed: [3, 4])) == 5)
    }

    @Test func allClaimedIsAConflict() {
        let full = DeviceState(name: "lo", root: .ours(usedBands: Set(2...9)), claimed: Set(10...16))
        #expect(throws: PlanConflict.self) { try band(full) }
    }
}

/// netem for a local server on a real device: responses (sport) leave through the device,
/// requests (dport) arrive and are shaped through its ifb.
@Suite struct LocalServerPlannerTests {
    @Test func sidesSwapOnADevice() throws {
        let eth0 = DeviceState(name: "eth0", root: .kernelDefault(kind: "noqueue"))
        let p = try Planner.plan(
            target: Target.parse("redis"), direction: .both, netem: NetemSpec(delay: .milliseconds(5)),
            device: eth0, isLoopback: false, deviceIndex: 4, server: .local)
        #expect(p.bands.map(\.device) == ["eth0", "nfifb4"])
        #expect(p.bands[0].matches.allSatisfy { $0.side == .source })
        #expect(p.bands[1].matches.allSatisfy { $0.side == .destination })
        #expect(p.redirects.first?.matches.allSatisfy { $0.side == .destination } == true)
    }

    @Test func loopbackIsTheSameEitherWay() throws {
        let lo = DeviceState(name: "lo", root: .kernelDefault(kind: "noqueue"))
        func plan(_ s: ServerLocation) throws -> LeasePlan {
            try Planner.plan(
                target: Target.parse("redis"), direction: .both, netem: NetemSpec(delay: .milliseconds(5)),
                device: lo, isLoopback: true, deviceIndex: 1, server: s)
        }
        #expect(try plan(.local) == plan(.remote))
    }
}
