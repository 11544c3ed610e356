import Foundation
import NetFaultCore
import NetFaultKernel
import NetFaultLeases
import Testing
@testable import netfault

/// What apply and status print for a lease holding both kinds of fault. (No kernel here has
/// both netem and nf_tables, so this is where the combined listing is checked.)
struct OutputTests {
    static func combined(rules: [InstalledRule]?) -> LeaseStatus {
        let target = Target(ports: [3306], name: "mysql")
        let netem = NetemSpec(loss: Percent(10))
        let filter = FilterSpec(action: .reject)
        var plan = LeasePlan(
            bands: [
                BandPlan(
                    device: "lo", band: 2, netem: netem,
                    matches: [PortMatch(family: .ipv4, side: .destination, port: 3306)])
            ],
            redirects: [])
        plan.filter = FilterPlanner.plan(
            leaseID: "nf-0000aa", target: target, peers: [], direction: .toServer, spec: filter)
        let lease = Lease(
            id: "nf-0000aa", target: target, direction: .toServer, netem: netem, filter: filter, device: "lo",
            plan: plan, created: Date(), deadline: Date().addingTimeInterval(60))
        return LeaseStatus(
            lease: lease, installed: [InstalledBand(device: "lo", band: 2, netem: netem, filters: 1)],
            rules: rules, watchdogAlive: true)
    }
    static let rule = InstalledRule(
        chain: "output", handle: 2, comment: "netfault nf-0000aa: reject", packets: 3, bytes: 180,
        text: "meta l4proto tcp tcp dport 3306 tcp flags & (syn | ack) == syn counter reject with tcp reset")

    @Test("status lists the netem band and the nf_tables table of one lease, with the rule's counter")
    func both() {
        let text = describe(Self.combined(rules: [Self.rule]))
        #expect(text.contains("loss 10%, reject"), "\(text)")
        #expect(text.contains("lo band 2: netem 6e02: loss 10%; 1 filter"), "\(text)")
        #expect(text.contains("nf_tables table inet netfault-nf-0000aa (owned by the watchdog), 1 rule:"), "\(text)")
        #expect(text.contains("output #2: meta l4proto tcp tcp dport 3306") && text.contains("[3 packets]"), "\(text)")
    }

    @Test("a lease whose table is gone says MISSING")
    func missing() {
        let text = describe(Self.combined(rules: nil))
        #expect(text.contains("nf_tables table inet netfault-nf-0000aa: MISSING from the kernel"), "\(text)")
    }

    @Test("--json carries both kinds: installed bands, requested_netfilter, the table and its rules")
    func json() throws {
        let data = try JSONEncoder().encode(LeaseJSON(Self.combined(rules: [Self.rule])))
        let o = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((o["installed"] as? [[String: Any]])?.first?["qdisc"] as? String == "6e02:")
        #expect((o["requested_netfilter"] as? [String: String]) == ["action": "reject"])
        #expect(o["table"] as? String == "netfault-nf-0000aa" && o["table_present"] as? Bool == true)
        let rule = try #require((o["rules"] as? [[String: Any]])?.first)
        #expect(rule["packets"] as? Int == 3 && rule["chain"] as? String == "output" && rule["handle"] as? Int == 2)
    }

    @Test("apply --json carries its warnings; status leaves the field out; only per-packet faults on a device warn")
    func warnings() throws {
        func object(_ j: LeaseJSON) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(j)) as? [String: Any])
        }
        var out = LeaseJSON(Self.combined(rules: nil))
        #expect(try object(out)["warnings"] == nil)
        out.warnings = ["on lo, --loss is decided once per packet netem sees"]
        #expect(try object(out)["warnings"] as? [String] == out.warnings)
        #expect(offloadWarnings(NetemSpec(loss: Percent(5)), device: "", netns: nil).isEmpty)  // netfilter only
        #expect(offloadWarnings(NetemSpec(delay: .milliseconds(5)), device: "lo", netns: nil).isEmpty)
        #expect(offloadWarnings(NetemSpec(loss: Percent(5)), device: "nfnosuch0", netns: nil).isEmpty)  // unknown
    }
}
