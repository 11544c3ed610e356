import NetFaultCore
import Testing

/// A request re-made for a scheduled on-period (`run --every/--on`, `--after`).
struct FaultRequestTests {
    @Test("lasting(_:) changes the length only: every field stays")
    func lastingKeepsEverything() throws {
        let netem = NetemSpec(delay: .milliseconds(20))
        let r = FaultRequest(
            target: Target(ports: [6379], name: "redis"), direction: .fromServer, netem: netem,
            filter: FilterSpec(action: .reject), peers: [try IPPrefix.parse("10.0.0.0/8")], device: "lo",
            duration: .seconds(60), server: .local)
        let period = r.lasting(.seconds(2))
        #expect(period.duration == .seconds(2))
        #expect(period.target == r.target && period.direction == r.direction && period.netem == r.netem)
        #expect(period.filter == r.filter && period.peers == r.peers && period.device == r.device)
        #expect(period.server == r.server)
    }
}
