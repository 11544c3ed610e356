import NetFaultCore
import NetFaultServe
import NetFaultLeases
import Testing

@testable import NetFaultMatrix

@Suite struct OutcomeTests {
    func run(exit: Int32?, timedOut: Bool = false) -> CommandRun {
        CommandRun(exitStatus: exit, timedOut: timedOut, seconds: 1, outputTail: "", connections: [], metrics: [:])
    }

    @Test func wordsOfAFailure() {
        let out = run(exit: 1)
        #expect(MatrixRunner.outcome(out, connected: false, symptoms: ["timeout"], timeout: .seconds(60))
            == "failed (exit 1), connect never completed, saw: timeout")
        #expect(MatrixRunner.outcome(out, connected: true, symptoms: [], timeout: .seconds(60))
            == "failed (exit 1), connected then failed")
        #expect(MatrixRunner.outcome(out, connected: nil, symptoms: [], timeout: .seconds(60)) == "failed (exit 1)")
        #expect(MatrixRunner.outcome(run(exit: 143, timedOut: true), connected: nil, symptoms: [], timeout: .seconds(60))
            == "timed out (still running after 1m)")
        #expect(MatrixRunner.outcome(run(exit: 0), connected: true, symptoms: ["timeout"], timeout: .seconds(60)) == "passed")
    }

    @Test func symptomsFromClientsInSeveralLanguages() {
        #expect(MatrixRunner.symptoms(in: "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            == ["connection refused"])
        #expect(MatrixRunner.symptoms(in: "pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query (timed out)')")
            == ["connection lost", "timeout"])
        #expect(MatrixRunner.symptoms(in: "read tcp 127.0.0.1:5->127.0.0.1:6379: read: connection reset by peer") == ["connection reset"])
        #expect(MatrixRunner.symptoms(in: "OSError: [Errno 24] Too many open files") == ["too many open files"])
        #expect(MatrixRunner.symptoms(in: "3 failed, 2 passed in 4.1s").isEmpty)
    }
}

@Suite struct RandomnessTests {
    func request(_ words: String) throws -> FaultRequest {
        let service = Scenario.Service(
            name: "redis", upstream: HostPort.parse("127.0.0.1:6379")!, listen: HostPort.parse("127.0.0.1:16379")!,
            env: nil, line: 1)
        let fault = Scenario.Fault(
            name: "f", words: words.split(separator: " ").map(String.init), after: nil, every: nil, on: nil,
            services: ["redis"], recover: nil, timeout: nil, line: 1)
        return try FaultWords.request(fault, service: service, duration: .seconds(60))
    }

    @Test func whatDrawsRandomNumbersSaysSo() throws {
        #expect(MatrixRunner.randomness(try request("--delay 10ms"), backend: .kernel) == "deterministic")
        #expect(MatrixRunner.randomness(try request("--blackhole"), backend: .proxy) == "deterministic")
        #expect(MatrixRunner.randomness(try request("--delay 10ms --reorder 5% --gap 5"), backend: .kernel) == "deterministic")
        #expect(
            MatrixRunner.randomness(try request("--delay 10ms --jitter 2ms --loss 1%"), backend: .kernel)
                == "not reproducible: jitter, loss (netem's seed needs kernel 6.6; netfault sets none)")
        #expect(
            MatrixRunner.randomness(try request("--delay 10ms --jitter 2ms"), backend: .proxy)
                == "not reproducible: jitter from an unseeded generator")
    }
}
