import FoundationEssentials
import NetFaultCore
import NetFaultServe
import Testing

@testable import NetFaultMatrix

@Suite struct ScenarioTests {
    static let good = """
        # a comment
        command: pytest -q tests
        timeout: 90s
        env:
          PYTHONDONTWRITEBYTECODE: "1"
        services:
          mysql:
            upstream: 127.0.0.1:3306
            listen: 127.0.0.1:13306
            env: APP_MYSQL
          redis:
            upstream: 127.0.0.1:6379
            listen: 127.0.0.1:16379
        faults:
          delay-10ms:
            fault: --delay 10ms
          blackhole:
            fault: [--blackhole]
            services: [redis]
          blackout:
            fault: --blackhole
            after: 1s
            every: 3s
            on: 1s
        """

    func parse(_ text: String) throws -> Scenario {
        try Scenario.parse(text, path: "m.yaml", directory: "/srv/app")
    }

    /// The error a file gets: its "file:line:column: message" text.
    func error(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func readsAScenario() throws {
        let s = try parse(Self.good)
        #expect(s.command == ["/bin/sh", "-c", "pytest -q tests"])
        #expect(s.workdir == "/srv/app")
        #expect(s.timeout == .seconds(90))
        #expect(s.backends == [.kernel, .proxy])
        #expect(s.env == ["PYTHONDONTWRITEBYTECODE": "1"])
        #expect(s.services.map(\.name) == ["mysql", "redis"])
        #expect(s.services[0].upstream.description == "127.0.0.1:3306")
        #expect(s.services[0].listen.port == 13306)
        #expect(s.services[0].env == "APP_MYSQL")
        #expect(s.faults.map(\.name) == ["delay-10ms", "blackhole", "blackout"])
        #expect(s.faults[0].words == ["--delay", "10ms"])
        #expect(s.faults[1].services == ["redis"])
        #expect(s.faults[2].scheduleText == "after 1s, on 1s every 3s")
        #expect(s.faults[2].line == 20)
    }

    @Test func jsonIsAScenarioToo() throws {
        let s = try parse(
            """
            {"command": ["./run-tests", "--fast"], "backends": "proxy",
             "services": {"redis": {"upstream": "127.0.0.1:6379", "listen": "127.0.0.1:16379"}},
             "faults": {"reset": {"fault": "--reset"}}}
            """)
        #expect(s.command == ["./run-tests", "--fast"])
        #expect(s.backends == [.proxy])
        #expect(s.cells.map(\.id) == ["baseline/proxy", "redis/reset/proxy"])
    }

    @Test(arguments: [
        ("command: x\nservices: {}\nfaults: {}\nbogus: 1\n", "m.yaml:4:1: unknown key 'bogus' in the scenario"),
        ("command: x\n  services: [\n", "m.yaml:2:"),
        ("services:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:16379}\nfaults:\n  d: {fault: --delay 1ms}\n",
         "m.yaml:1:1: no 'command'"),
        ("command: x\nservices:\n  r:\n    upstream: 127.0.0.1\n    listen: 127.0.0.1:1\nfaults: {d: {fault: --reset}}\n",
         "m.yaml:4:15: service r: upstream '127.0.0.1' is not HOST:PORT"),
        ("command: x\nservices:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:6379}\nfaults: {d: {fault: --reset}}\n",
         "m.yaml:3:41: service r: the proxy cannot listen on the upstream's port 6379"),
        ("command: x\nservices:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults:\n  d:\n    fault: --delay 10parsecs\n",
         "m.yaml:6:12: fault d: --delay"),
        ("command: x\nservices:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults:\n  d:\n    fault: --reset --host 10.0.0.1\n",
         "m.yaml:6:12: fault d: --host is set by the service's upstream address"),
        ("command: x\nservices:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults:\n  d:\n    fault: --blackhole\n    on: 1s\n",
         "m.yaml:7:9: fault d: --on needs --every"),
        ("command: x\nservices:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults:\n  d:\n    fault: --reset\n    services: [mysql]\n",
         "m.yaml:7:16: fault d: no service 'mysql'"),
        ("command: x\nservices:\n  a: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\n  b: {upstream: 10.0.0.1:6379, listen: 127.0.0.1:2}\nfaults: {d: {fault: --reset}}\n",
         "m.yaml:4:17: services a and b have the same upstream port 6379"),
        ("command: x\nbackends: [kernel, tc]\nservices: {}\nfaults: {}\n", "m.yaml:2:20: unknown backend 'tc'"),
        ("command: x\nservices:\n  baseline: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults: {d: {fault: --reset}}\n",
         "m.yaml:3:3: 'baseline' names the runs without a fault"),
        ("command: x\nservices:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults:\n  a/b: {fault: --reset}\n",
         "m.yaml:5:3: the fault name 'a/b' may hold only"),
        ("", "m.yaml:1:1: the file is empty"),
    ])
    func aMistakeIsReportedWhereItIs(text: String, expected: String) {
        let message = error(text)
        #expect(message.hasPrefix(expected), "\(message)")
    }

    static func withFault(_ lines: String, top: String = "") -> String {
        "command: x\n\(top)services:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults:\n  d:\n\(lines)"
    }

    @Test(
        "numbers out of range are refused with the key and the file's line, never trapped on",
        arguments: [
            (withFault("    fault: --reset\n", top: "timeout: 1e308\n"),
             "m.yaml:2:10: timeout '1e308' is not a duration"),
            (withFault("    fault: --reset\n", top: "timeout: 1e308s\n"), "m.yaml:2:10: timeout '1e308s' is too large"),
            (withFault("    fault: --reset\n    timeout: 9223372036854775807s\n"),
             "timeout '9223372036854775807s' is too large"),
            (withFault("    fault: --reset\n    timeout: -1s\n"), "timeout '-1s' is negative"),
            (withFault("    fault: --delay 1e308ms\n"), "--delay '1e308ms' is too large"),
            (withFault("    fault: --delay 10ms --jitter 1e300us\n"), "--jitter '1e300us' is too large"),
            (withFault("    fault: --rate 1e308mbit\n"), "--rate '1e308mbit' is too large"),
            (withFault("    fault: --rate 18446744073709551616bit\n"), "--rate '18446744073709551616bit' is too large"),
            (withFault("    fault: --delay 10ms --reorder 5% --gap 4294967296\n"),
             "--gap '4294967296' must be a whole"),
            (withFault("    fault: --delay 10ms --limit 4294967296\n"), "--limit '4294967296' is not a number"),
            (withFault("    fault: --loss 1e308%\n"), "--loss '1e308%' is out of range"),
            (withFault("    fault: --reset\n    every: 1e308s\n    on: 1s\n"), "--every '1e308s' is too large"),
            (withFault("    fault: --reset\n    every: 9e18ns\n    on: 8.99999999999e18ns\n"),
             "between on-periods; the least netfault can keep is 100ms"),
            (withFault("    fault: --reset\n    after: 9223372036854775807ns\n"),
             "--after '9223372036854775807ns' is too large"),
        ] as [(String, String)])
    func untrustedNumbers(text: String, expected: String) {
        let message = error(text)
        #expect(message.contains(expected), "\(message)")
    }

    @Test("a scenario file over 1 MiB is refused before it is read, with exit 64")
    func oversizedFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("big.yaml").path
        let faults = (0..<40_000).map { "  f\($0): {fault: --reset}\n" }.joined()
        try (Self.withFault("    fault: --reset\n") + faults).write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: ScenarioError.self) { try Scenario.load(path: file) }
        #expect(error?.exitStatus == 64)
        let message = error?.message ?? ""
        #expect(message.contains("a scenario may be at most 1048576 bytes (1 MiB)"), "\(message)")
    }

    @Test("more faults than cells a scenario may make are refused before their words are parsed")
    func tooManyFaults() throws {
        let faults = (0...1_000).map { "  f\($0): {fault: --reset}\n" }.joined()
        let text = "command: x\nservices:\n  r: {upstream: 127.0.0.1:6379, listen: 127.0.0.1:1}\nfaults:\n" + faults
        #expect(error(text).hasPrefix("m.yaml:5:3: 1001 faults; a scenario may make at most 1000 cells per backend"))
    }

    @Test func onlySelectsCellsAndTheirBaselines() throws {
        let s = try parse(Self.good)
        #expect(s.cells.count == 2 + 2 * (2 + 1 + 2))
        #expect(try s.cells(only: ["redis/blackhole/kernel"]).map(\.id) == ["baseline/kernel", "redis/blackhole/kernel"])
        #expect(
            try s.cells(only: ["mysql/*/proxy"]).map(\.id) == [
                "baseline/proxy", "mysql/delay-10ms/proxy", "mysql/blackout/proxy",
            ])
        #expect(throws: InputError.self) { try s.cells(only: ["mysql/blackhole/kernel"]) }
    }

    @Test func faultsMapToToxics() throws {
        let s = try parse(Self.good)
        func plan(_ words: String) throws -> FaultWords.ProxyPlan {
            let f = Scenario.Fault(
                name: "f", words: words.split(separator: " ").map(String.init), after: nil, every: nil, on: nil,
                services: ["mysql"], recover: nil, timeout: nil, line: 1)
            return FaultWords.proxyPlan(try FaultWords.request(f, service: s.services[0], duration: .seconds(60)))
        }
        let delay = try plan("--delay 10ms --jitter 2ms")
        #expect(delay.toxics.count == 1)
        #expect(delay.toxics[0] == Toxic(
            name: "latency_upstream", stream: .upstream, toxicity: 1,
            .latency(LatencyToxic(latency: .milliseconds(10), jitter: .milliseconds(2)))))
        #expect(try plan("--delay 10ms --direction both").toxics.map(\.stream) == [.upstream, .downstream])
        let blackhole = try plan("--blackhole").toxics
        #expect(blackhole == [Toxic(name: "timeout_upstream", stream: .upstream, .timeout(.init()))])
        #expect(try plan("--reject").disable)
        #expect(try plan("--reset").toxics.map(\.type) == [.reset_peer])
        let rate = try plan("--rate 800kbit").toxics
        #expect(rate == [Toxic(.bandwidth(BandwidthToxic(rate: 100)), stream: .upstream)])
        #expect(try plan("--loss 5%").unsupported?.contains("--loss") == true)
        #expect(try plan("--delay 1500us").unsupported?.contains("whole milliseconds") == true)
    }
}
