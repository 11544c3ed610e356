import Foundation
import Testing
import NetFaultCore
@testable import NetFaultKernel

/// One line of Fixtures/tc-requests.txt: what iproute2 sent for a command.
struct Fixture {
    let name: String
    let command: String
    let bytes: [UInt8]

    static let all: [String: Fixture] = {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil),
            let text = try? String(contentsOf: dir.appendingPathComponent("tc-requests.txt"), encoding: .utf8)
        else { return [:] }
        var out: [String: Fixture] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3 else { continue }
            out[f[0]] = Fixture(name: f[0], command: f[1], bytes: hexBytes(f[2]))
        }
        return out
    }()
}

func hexBytes(_ s: String) -> [UInt8] {
    let chars = Array(s.utf8)
    return stride(from: 0, to: chars.count - 1, by: 2).map {
        UInt8(String(decoding: chars[$0...$0 + 1], as: UTF8.self), radix: 16)!
    }
}

func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

/// seq and pid (bytes 8..<16) differ per run.
func withoutSeqAndPid(_ b: [UInt8]) -> [UInt8] {
    var b = b
    for i in 8..<min(16, b.count) { b[i] = 0 }
    return b
}

@Suite struct FixtureTests {
    static let names = [
        "prio_root", "netem_delay", "netem_all", "netem_loss", "netem_reorder", "netem_rate64", "netem_dist",
        "netem_limit", "netem_limit_small",
        "u32_v4_dport", "u32_v4_sport_src", "u32_v6_dport_dst", "u32_v4_dport_dst_prefix", "u32_v6_sport_src_prefix",
        "ingress", "u32_redirect",
        "del_filter", "del_netem", "del_root", "ifb_add", "link_up"
    ]

    /// netfault's request for the same thing each fixture's command asks (lo is ifindex 1). A
    /// command without `limit` had tc's default of 1000, which the spec then names.
    static func request(_ name: String) throws -> NetlinkRequest {
        let ms = Duration.milliseconds
        switch name {
        case "prio_root":
            return TCRequests.addRootPrio(ifindex: 1)
        case "netem_delay":
            return TCRequests.addNetem(ifindex: 1, band: 2, spec: NetemSpec(delay: ms(100), limit: 1000))
        case "netem_limit":  // the default for 100ms: room for 100,000 packets a second
            return TCRequests.addNetem(ifindex: 1, band: 2, spec: NetemSpec(delay: ms(100)))
        case "netem_limit_small":
            return TCRequests.addNetem(ifindex: 1, band: 3, spec: NetemSpec(loss: Percent(30), limit: 100))
        case "netem_all":
            return TCRequests.addNetem(
                ifindex: 1, band: 2,
                spec: NetemSpec(
                    delay: ms(100), jitter: ms(10), delayCorrelation: Percent(25), loss: Percent(5),
                    lossCorrelation: Percent(25), duplicate: Percent(1), corrupt: Percent(0.1),
                    reorder: Percent(25), gap: 5, rate: try Rate.parse("1mbit"), limit: 1000))
        case "netem_loss":
            return TCRequests.addNetem(ifindex: 1, band: 3, spec: NetemSpec(loss: Percent(30)))
        case "netem_reorder":
            return TCRequests.addNetem(ifindex: 1, band: 2, spec: NetemSpec(delay: ms(10), reorder: Percent(50)))
        case "netem_rate64":
            return TCRequests.addNetem(ifindex: 1, band: 2, spec: NetemSpec(rate: try Rate.parse("40gbit")))
        case "netem_dist":
            return TCRequests.addNetem(
                ifindex: 1, band: 4,
                spec: NetemSpec(delay: ms(10), jitter: ms(2), distribution: .normal, limit: 1000),
                distributionTable: try DistributionTables.load(.normal))
        case "u32_v4_dport":
            return TCRequests.addBandFilter(
                ifindex: 1, band: 2, match: PortMatch(family: .ipv4, side: .destination, port: 6379))
        case "u32_v4_sport_src":
            return TCRequests.addBandFilter(
                ifindex: 1, band: 2,
                match: PortMatch(
                    family: .ipv4, side: .source, port: 3306, host: IPAddress("127.0.0.2")))
        case "u32_v6_dport_dst":
            return TCRequests.addBandFilter(
                ifindex: 1, band: 2,
                match: PortMatch(
                    family: .ipv6, side: .destination, port: 6379, host: IPAddress("::1")))
        case "u32_v4_dport_dst_prefix":
            return TCRequests.addBandFilter(
                ifindex: 1, band: 2,
                match: PortMatch(
                    family: .ipv4, side: .destination, port: 6379, address: try IPPrefix.parse("10.64.0.0/10")))
        case "u32_v6_sport_src_prefix":
            return TCRequests.addBandFilter(
                ifindex: 1, band: 2,
                match: PortMatch(
                    family: .ipv6, side: .source, port: 3306, address: try IPPrefix.parse("2001:db8:80::/41")))
        case "ingress":
            return TCRequests.addIngress(ifindex: 1)
        case "u32_redirect":
            return TCRequests.addRedirectFilter(
                ifindex: 1, band: 2,
                match: PortMatch(family: .ipv4, side: .source, port: 6379), ifbIndex: 1)
        case "del_filter":
            return TCRequests.deleteFilters(
                ifindex: 1, parent: TCRequests.handle(Ownership.rootMajor),
                priority: 28164, family: .ipv4)
        case "del_netem":
            return TCRequests.deleteNetem(ifindex: 1, band: 2)
        case "del_root":
            return TCRequests.deleteRoot(ifindex: 1)
        case "ifb_add":
            return TCRequests.addIfb(name: "nfifb1")
        case "link_up":
            return TCRequests.setLinkUp(index: 1)
        default:
            throw UnknownFixture(name: name)
        }
    }

    struct UnknownFixture: Error { let name: String }

    @Test(arguments: names)
    func matchesIproute2(_ name: String) throws {
        let fixture = try #require(Fixture.all[name], "no fixture line named \(name)")
        let expected = withoutSeqAndPid(fixture.bytes)
        let actual = withoutSeqAndPid(try Self.request(name).bytes(seq: 0))
        let firstDifference =
            zip(expected, actual).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? (expected.count == actual.count ? nil : min(expected.count, actual.count))
        #expect(
            actual == expected,
            """
            \(name): \(fixture.command)
            first difference at byte \(firstDifference.map(String.init) ?? "-") \
            (lengths \(expected.count) vs \(actual.count))
            iproute2: \(hex(expected))
            netfault: \(hex(actual))
            """)
    }

    @Test func everyFixtureIsChecked() {
        #expect(!Fixture.all.isEmpty, "Fixtures/tc-requests.txt not found in the test bundle")
        #expect(Set(Fixture.all.keys) == Set(Self.names))
    }
}
