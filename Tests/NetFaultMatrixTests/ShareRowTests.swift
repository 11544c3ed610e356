import Foundation
import NetFaultCore
import Testing
@testable import NetFaultMatrix
@testable import NetFaultServe

/// A matrix row with --connections: the kernel draws a share of new connections, the proxy
/// backend gives the connection fault's toxic that toxicity, or says why it has no equivalent.
@Suite struct ShareRowTests {
    func request(_ words: String) throws -> FaultRequest {
        let service = Scenario.Service(
            name: "redis", upstream: HostPort.parse("127.0.0.1:6379")!, listen: HostPort.parse("127.0.0.1:16379")!,
            env: nil, line: 1)
        let fault = Scenario.Fault(
            name: "f", words: words.split(separator: " ").map(String.init), after: nil, every: nil, on: nil,
            services: ["redis"], recover: nil, timeout: nil, line: 1)
        return try FaultWords.request(fault, service: service, duration: .seconds(60))
    }

    @Test("--reset --connections 30% is a reset_peer of toxicity 0.3 in the proxy, not one for every connection")
    func shareIsToxicity() throws {
        let plan = FaultWords.proxyPlan(try request("--reset --connections 30%"))
        #expect(plan.unsupported == nil && !plan.disable)
        #expect(plan.toxics.map(\.type) == [.reset_peer] && plan.toxics.map(\.toxicity) == [0.3], "\(plan.toxics)")
        #expect(plan.notes.contains { $0.contains("toxicity 0.3") })
        // The delay beside it keeps toxicity 1: only the connection fault is drawn.
        let hang = FaultWords.proxyPlan(try request("--hang --connections 50%"))
        #expect(hang.toxics.map(\.toxicity) == [0.5])
    }

    @Test("every:N and a share of refusals have no proxy equivalent, and say so")
    func noProxyEquivalent() throws {
        #expect(FaultWords.proxyPlan(try request("--hang --connections every:3")).unsupported?.contains("every:3") == true)
        #expect(FaultWords.proxyPlan(try request("--reject --connections 30%")).unsupported?.contains("refuses") == true)
    }

    @Test("a random share is not reproducible; every:N is")
    func randomness() throws {
        #expect(
            MatrixRunner.randomness(try request("--reset --connections 30%"), backend: .proxy)
                == "not reproducible: the connections drawn from an unseeded generator")
        #expect(MatrixRunner.randomness(try request("--reset --connections every:3"), backend: .kernel) == "deterministic")
    }

    @Test("examples/ichnaea/matrix.yaml has the share row: a reset of 30% of new connections")
    func exampleHasTheShareRow() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/ichnaea/matrix.yaml").path
        let s = try Scenario.load(path: path)
        let row = try #require(s.faults.first { $0.name == "reset-30pct" })
        let r = try FaultWords.request(row, service: s.services[0], duration: .seconds(60))
        #expect(r.filter.action == .reset && r.filter.connections == .percent(Percent(30)))
    }
}
