import ArgumentParser
import Foundation
import NetFaultCore
import NetFaultKernel
import Testing
import TestSupport
@testable import netfault
import NetFaultCommand

/// Feeds random and mutated argument vectors to the parser and validation (no kernel access)
/// and checks each one ends in a request, a help text, or a usage error with exit 64 and a
/// message. A trap anywhere would end the test process, so finishing is part of the check.
struct ArgumentFuzzTests {
    static let subcommands = ["apply", "status", "revert", "doctor", "bogus", ""]
    static let options = [
        "--delay", "--jitter", "--delay-correlation", "--distribution", "--loss", "--loss-correlation",
        "--duplicate", "--corrupt", "--reorder", "--gap", "--rate", "--for", "--iface", "--direction",
        "--host", "--json", "--all", "-h", "--help", "--delay=", "--loss=-1%", "-x", "--",
        "--blackhole", "--reject", "--reset", "--hang", "--loss-nft", "--peer", "--limit", "--after", "--every",
        "--on", "--connections", "--reset-after", "--hang-after", "--limit-data", "--limit-data-action", "--slice",
        "--uid", "--cgroup", "--scope"
    ]
    static let values = [
        "100ms", "10us", "1.5s", "-5ms", "0", "0ms", "61s", "5%", "5", "0.1%", "100%", "120%", "-1%", "abc", "",
        "1mbit", "7bit", "1kbps", "200tbit", "99999999999999999999tbit", "nan", "inf", "-inf", "1e400ms", "0x10ms",
        "normal", "pareto", "paretonormal", "bogus", "to-server", "from-server", "both", "sideways",
        "127.0.0.1", "::1", "fe80::1%lo", "300.1.1.1", "redis", "mysql", "postgres", "memcached", "6379",
        "0", "65535", "65536", "70000", "mysql,6380", "mysql,,redis", ",", "٣٣٠٦", "-", "%", "%%",
        "25h", "24h", "1h", "1m", "\u{0}", "ééé", "4294967296", "-0", "+5ms", " 5ms", "5 ms",
        String(repeating: "9", count: 400), "lo", "nf-123456", "../../victim", "nf-12345/",
        "10.0.0.0/8", "10.1.2.3/33", "::1/128", "fd00::/200", "0.0.0.0/0", "1.2.3.4/", "/8", "10.0.0.0/x",
        "1e308ms", "9223372036854775807s", "9223372036854775807ns", "9.2e18ns", "1e308mbit", "18446744073709551616bit",
        "1e308%", "4294967295", "99999999999", "5ms", "10ms", "every:3", "every:0", "every:", "EVERY:1",
        "every:99999999999999999999", "every:-1", "every:1e9", "4096", "64KiB", "18446744073709551615gib", "close",
        "9ms", "nobody", "65534", "root", "/", "/no-such", "..", "command"
    ]

    static let scheduleValues = [
        "100ms", "200ms", "5ms", "10ms", "1s", "2s", "10s", "0ms", "24h", "25h", "-1s", "1e308s",
        "9223372036854775807ns", "9.1e18ns", "nan"
    ]

    /// Options with values that are each valid on their own (combinations may still be wrong).
    static let validFaults: [[String]] = [
        ["--delay", "100ms"], ["--jitter", "10ms"], ["--loss", "5%"], ["--duplicate", "1%"],
        ["--corrupt", "0.1%"], ["--reorder", "25%"], ["--gap", "5"], ["--rate", "1mbit"],
        ["--delay-correlation", "25%"], ["--distribution", "normal"], ["--loss-correlation", "10%"],
        ["--for", "5m"], ["--direction", "both"], ["--host", "127.0.0.2"], ["--json"],
        ["--reject"], ["--hang"], ["--loss-nft", "5%"], ["--peer", "10.0.0.0/8"], ["--limit", "20000"],
        ["--connections", "30%"], ["--reset-after", "2s"], ["--hang-after", "5s"], ["--limit-data", "4096"],
        ["--limit-data-action", "close"], ["--slice", "100"], ["--uid", "65534"], ["--cgroup", "/"]
    ]

    static func vector(_ rng: inout SplitMix64) -> [String] {
        var v: [String] = []
        let kind = Int.random(in: 0..<16, using: &rng)
        if kind == 0 {
            // A plausible scheduled run, to reach the schedule's checks.
            v = ["run", "redis", "--reset"]
            for option in ["--after", "--every", "--on", "--for"] where Bool.random(using: &rng) {
                v += [option, scheduleValues.randomElement(using: &rng)!]
            }
            v += ["--", "true"]
        } else if kind < 5 {
            // A plausible apply, to reach the validators behind the parser.
            v = ["apply", ["redis", "mysql", "6380", "mysql,redis"].randomElement(using: &rng)!, "--delay", "10ms"]
            for _ in 0..<Int.random(in: 0...3, using: &rng) { v += validFaults.randomElement(using: &rng)! }
        } else {
            v.append(subcommands.randomElement(using: &rng)!)
            if Int.random(in: 0..<10, using: &rng) < 8 { v.append(values.randomElement(using: &rng)!) }
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                v.append(options.randomElement(using: &rng)!)
                if Bool.random(using: &rng) { v.append(values.randomElement(using: &rng)!) }
            }
        }
        // Mutations: drop, swap, duplicate a token, or damage one with random characters.
        for _ in 0..<Int.random(in: 0...2, using: &rng) where !v.isEmpty {
            let i = Int.random(in: 0..<v.count, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: v.remove(at: i)
            case 1: v.swapAt(i, Int.random(in: 0..<v.count, using: &rng))
            case 2: v.insert(v[i], at: i)
            default:
                var chars = Array(v[i])
                let junk = Character(UnicodeScalar(UInt8.random(in: 0x20...0x7e, using: &rng)))
                chars.insert(junk, at: Int.random(in: 0...chars.count, using: &rng))
                v[i] = String(chars)
            }
        }
        return v
    }

    enum Outcome { case request, other, help, usageError }

    static func outcome(_ argv: [String]) -> (Outcome, Int32, String) {
        do {
            let command = try NetFault.parseAsRoot(argv)
            if String(describing: type(of: command)) == "HelpCommand" { return (.help, 0, "") }
            if let apply = command as? Apply {
                _ = try apply.request()
                return (.request, 0, "")
            }
            if let run = command as? RunCommand {
                _ = try run.validated()
                return (.request, 0, "")
            }
            return (.other, 0, "")
        } catch let e as InputError {
            let (status, message) = diagnose(e)
            return (.usageError, status, message)
        } catch let e as ScopeError {
            // --uid or --cgroup naming nothing here: 66 or 67 (69: no cgroup2 at all).
            return (.usageError, e.exitStatus, e.message)
        } catch {
            let code = NetFault.exitCode(for: error)
            return (code == .success ? .help : .usageError, code.rawValue, NetFault.message(for: error))
        }
    }

    /// Vectors in all (NETFAULT_FUZZ_VECTORS, default 10,000), in 10 parallel slices, each with
    /// its own seed. `make unit` runs them on a release configuration: a debug build of
    /// ArgumentParser re-validates the command definitions at each parse (about 70ms a parse here).
    static let total = max(10, Int(ProcessInfo.processInfo.environment["NETFAULT_FUZZ_VECTORS"] ?? "") ?? 10_000)

    @Test(
        "10,000 random and mutated argument vectors each end in a result or exit 64 with a message",
        arguments: 0..<10)
    func fuzz(slice: Int) {
        var rng = SplitMix64(state: 0x6e66_6e66 &+ UInt64(slice))
        let perSlice = Self.total / 10
        var counts: [Outcome: Int] = [:]
        for i in 0..<perSlice {
            let argv = Self.vector(&rng)
            let (kind, status, message) = Self.outcome(argv)
            counts[kind, default: 0] += 1
            if kind == .usageError {
                #expect([64, 66, 67].contains(status), "slice \(slice) vector \(i) \(argv): exit \(status) \(message)")
                #expect(
                    !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                    "slice \(slice) vector \(i) \(argv): no message")
            }
        }
        // The generator must reach every outcome, or the test proves little (per 1,000 vectors:
        // more than 20 requests, 300 usage errors and 2 help texts, and at least 5 others).
        #expect(counts[.request, default: 0] > perSlice / 50, "\(counts)")
        #expect(counts[.usageError, default: 0] > perSlice * 3 / 10, "\(counts)")
        #expect(counts[.help, default: 0] > perSlice / 500, "\(counts)")
        #expect(counts[.other, default: 0] >= perSlice / 200, "\(counts)")
    }

    @Test(
        "revert and the watchdog refuse ids that are not lease ids, with exit 64",
        arguments: [
            ["revert", "../../victim"], ["revert", "nf-84ac52", "/etc/x"], ["revert", "nf-84AC52"],
            ["__watchdog", "../x"]
        ])
    func malformedLeaseIDs(argv: [String]) throws {
        if argv[0] == "revert" {
            let (kind, status, message) = Self.outcome(argv)
            #expect(kind == .usageError && status == 64, "\(argv): \(kind) \(status)")
            #expect(message.contains("is not a lease id"), "\(message)")
        } else {
            // The watchdog is started by apply only, but must not trust its argument either:
            // it exits 64 before it opens the journal.
            var command = try NetFault.parseAsRoot(argv)
            let error = #expect(throws: ExitCode.self) { try command.run() }
            #expect(error?.rawValue == 64)
        }
        #expect(Self.outcome(["revert", "nf-84ac52"]).0 == .other)
    }

    @Test(
        "numbers past every range end in exit 64 naming the option, before anything touches the kernel",
        arguments: [
            (["apply", "redis", "--delay", "1e308ms"], "--delay '1e308ms' is too large"),
            (["apply", "redis", "--delay", "10ms", "--for", "9223372036854775807s"],
             "--for '9223372036854775807s' is too large"),
            (["apply", "redis", "--delay", "10ms", "--for", "9223372036854775807ns"],
             "--for '9223372036854775807ns' is too large"),
            (["apply", "redis", "--delay", "10ms", "--jitter", "1e300us"], "--jitter '1e300us' is too large"),
            (["apply", "redis", "--rate", "1e308mbit"], "--rate '1e308mbit' is too large"),
            (["apply", "redis", "--rate", "18446744073709551616bit"], "--rate '18446744073709551616bit' is too large"),
            (["apply", "redis", "--rate", "1e-300bit"], "--rate '1e-300bit' is too small"),
            (["apply", "redis", "--loss", "1e308%"], "--loss '1e308%' is out of range"),
            (["apply", "redis", "--delay", "10ms", "--reorder", "5%", "--gap", "4294967296"], "--gap '4294967296'"),
            (["apply", "redis", "--delay", "10ms", "--limit", "18446744073709551616"],
             "--limit '18446744073709551616'"),
            (["apply", "99999999999999999999", "--delay", "10ms"], "99999999999999999999"),
            (["apply", "redis", "--delay", "10ms", "--netns-pid", "99999999999"], "99999999999"),
            (["run", "redis", "--reset", "--every", "10ms", "--on", "5ms", "--", "true"],
             "--on 5ms is shorter than 100ms"),
            (["run", "redis", "--reset", "--every", "1e308s", "--on", "1s", "--", "true"],
             "--every '1e308s' is too large"),
            (["run", "redis", "--reset", "--after", "9223372036854775807ns", "--", "true"],
             "--after '9223372036854775807ns'"),
            (["run", "redis", "--reset", "--after", "9.1e18ns", "--every", "9.1e18ns", "--on", "1s", "--", "true"],
             "with --for 24h"),
        ])
    func edgeNumbers(argv: [String], expected: String) {
        let (kind, status, message) = Self.outcome(argv)
        #expect(kind == .usageError && status == 64, "\(argv): \(kind) \(status) \(message)")
        #expect(message.contains(expected), "\(argv): \(message)")
    }

    @Test("every InputError the validators raise maps to exit 64")
    func inputErrorsAreUsage() {
        #expect(diagnose(InputError("x")).status == 64)
        #expect(diagnose(PlanConflict("x")).status == 73)
    }
}
