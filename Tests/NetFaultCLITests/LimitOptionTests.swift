import ArgumentParser
import NetFaultCore
import Testing
@testable import netfault
import NetFaultCommand

/// --limit: netem's queue limit, on apply and run.
struct LimitOptionTests {
    typealias Fuzz = ArgumentFuzzTests

    @Test(
        "a bad --limit is refused with exit 64 and a message that names the option and what is right",
        arguments: [
            (["--delay", "10ms", "--limit", "0"], "--limit 0 is out of range; give a whole number of packets from 1"),
            (["--delay", "10ms", "--limit", "10000001"], "--limit 10000001 is out of range"),
            (["--delay", "10ms", "--limit", "abc"], "--limit 'abc' is not a number of packets"),
            (["--delay", "10ms", "--limit=-5"], "--limit '-5' is not a number of packets"),
            (["--delay", "10ms", "--limit", "1.5"], "--limit '1.5' is not a number of packets"),
            (["--delay", "10ms", "--limit", "4294967296"], "--limit '4294967296' is not a number of packets"),
            (["--limit", "100"], "--limit sizes netem's queue and is no fault by itself"),
            (["--reject", "--limit", "100"], "--limit sizes netem's queue and is no fault by itself")
        ])
    func refused(args: [String], message: String) {
        let (kind, status, text) = Fuzz.outcome(["apply", "redis"] + args)
        #expect(kind == .usageError && status == 64, "\(args): \(kind) \(status) \(text)")
        #expect(text.contains(message), "\(text)")
    }

    @Test("run takes --limit too, with the same checks")
    func run() throws {
        let argv = ["run", "redis", "--delay", "1ms", "--limit", "7", "--", "true"]
        let good = try #require(try NetFault.parseAsRoot(argv) as? RunCommand)
        #expect(try good.lease.request(duration: "1m").netem.limit == 7)
        let bad = try #require(try NetFault.parseAsRoot(["run", "redis", "--limit", "7", "--", "true"]) as? RunCommand)
        let error = #expect(throws: InputError.self) { try bad.lease.request(duration: "1m") }
        #expect(error.map { diagnose($0).status } == 64)
    }

    /// The netem line --dry-run prints for these apply options.
    func dryRunLine(_ args: [String]) throws -> String {
        let apply = try #require(try NetFault.parseAsRoot(["apply", "redis"] + args) as? Apply)
        return TCStep.addNetem(device: "lo", band: 2, netem: try apply.request().netem).command
    }

    @Test("the dry-run's tc command names the limit whenever it is not tc's default of 1000")
    func dryRunCommand() throws {
        #expect(try dryRunLine(["--delay", "100ms"]).hasSuffix("netem limit 10000 delay 100ms"))
        #expect(try dryRunLine(["--delay", "100ms", "--limit", "20000"]).hasSuffix("netem limit 20000 delay 100ms"))
        #expect(try dryRunLine(["--delay", "5ms"]).hasSuffix("netem delay 5ms"))
        #expect(try dryRunLine(["--delay", "100ms", "--limit", "1000"]).hasSuffix("netem delay 100ms"))
    }

    @Test("the help says what --limit is, its unit and its default")
    func help() {
        let help = Apply.helpMessage(columns: 1000)
        #expect(help.contains("--limit <packets>"))
        #expect(help.contains("netem's queue holds") && help.contains("at least 1000 (tc's default)"), "\(help)")
    }
}
