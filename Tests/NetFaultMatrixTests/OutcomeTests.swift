import NetFaultCore
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
