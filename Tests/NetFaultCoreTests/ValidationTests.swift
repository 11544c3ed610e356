import Foundation
import Testing
import NetFaultCore

private let ms = Duration.milliseconds

@Suite struct NetemValidationTests {
    @Test(arguments: [
        (NetemSpec(), "no fault given"),
        (NetemSpec(jitter: ms(10)), "--jitter needs --delay"),
        (NetemSpec(delay: .zero, jitter: ms(10)), "--jitter needs --delay"),
        (NetemSpec(delay: ms(100), delayCorrelation: Percent(25)), "--delay-correlation needs --jitter"),
        (NetemSpec(delay: ms(100), distribution: .normal), "--distribution needs --delay and --jitter"),
        (NetemSpec(delay: ms(10), lossCorrelation: Percent(25)), "--loss-correlation needs --loss"),
        (NetemSpec(reorder: Percent(25)), "--reorder needs --delay"),
        (NetemSpec(delay: ms(10), gap: 5), "--gap needs --reorder"),
        (NetemSpec(delay: ms(10), reorder: Percent(25), gap: 0), "--gap must be at least 1"),
        (NetemSpec(delay: ms(60_001)), "--delay 60001ms is too long"),
        (NetemSpec(delay: ms(100), jitter: .seconds(61)), "--jitter 61s is too long"),
        (NetemSpec(limit: 5000), "--limit sizes netem's queue and is no fault by itself"),
        (NetemSpec(delay: ms(10), limit: 0), "--limit 0 is out of range"),
        (NetemSpec(loss: Percent(5), limit: 10_000_001), "--limit 10000001 is out of range")
    ])
    func rule(spec: NetemSpec, message: String) {
        let error = #expect(throws: InputError.self) { try spec.validate() }
        #expect(error?.message.hasPrefix(message) == true, "got: \(error?.message ?? "no error")")
    }

    @Test(arguments: [
        NetemSpec(delay: ms(100)),
        NetemSpec(delay: .seconds(60)),
        NetemSpec(loss: Percent(5)),
        NetemSpec(loss: Percent(5), lossCorrelation: Percent(25)),
        NetemSpec(duplicate: Percent(1)),
        NetemSpec(corrupt: Percent(0.1)),
        NetemSpec(rate: Rate(bitsPerSecond: 1_000_000)),
        NetemSpec(delay: ms(100), jitter: ms(10), delayCorrelation: Percent(25), distribution: .pareto),
        NetemSpec(delay: ms(10), reorder: Percent(25)),
        NetemSpec(delay: ms(10), reorder: Percent(25), gap: 1),
        NetemSpec(
            delay: ms(100), jitter: ms(10), delayCorrelation: Percent(25), distribution: .normal,
            loss: Percent(5), lossCorrelation: Percent(25), duplicate: Percent(1), corrupt: Percent(0.1),
            reorder: Percent(25), gap: 5, rate: Rate(bitsPerSecond: 1_000_000))
    ])
    func valid(_ spec: NetemSpec) {
        #expect(throws: Never.self) { try spec.validate() }
    }

    @Test func summary() {
        let spec = NetemSpec(delay: ms(100), jitter: ms(10), loss: Percent(5), reorder: Percent(25), gap: 5)
        #expect(spec.summary == "delay 100ms ±10ms, loss 5%, reorder 25% gap 5")
        #expect(NetemSpec(loss: Percent(5), limit: 20_000).summary == "loss 5%, limit 20000")
    }

    @Test("a queue limit alone is no fault; with a fault it is valid from 1 to 10000000 packets")
    func limitIsNotAFault() {
        #expect(NetemSpec(limit: 100).isEmpty)
        #expect(throws: Never.self) { try NetemSpec(delay: ms(1), limit: 1).validate() }
        #expect(throws: Never.self) { try NetemSpec(loss: Percent(1), limit: 10_000_000).validate() }
        #expect(NetemSpec(loss: Percent(1), limit: 7).perPacketFaults == ["--loss"])
    }

    @Test(
        "the default limit leaves room for 100,000 packets a second over delay + jitter, and for --rate",
        arguments: [
            (NetemSpec(loss: Percent(5)), 1000),  // nothing held: tc's default
            (NetemSpec(delay: ms(1)), 1000),  // 100 in flight: tc's default is the least
            (NetemSpec(delay: ms(10)), 1000),
            (NetemSpec(delay: ms(11)), 1100),
            (NetemSpec(delay: ms(100)), 10_000),
            (NetemSpec(delay: ms(100), jitter: ms(10)), 11_000),
            (NetemSpec(delay: Duration(nanoseconds: 100_000_001)), 10_001),  // rounded up
            (NetemSpec(delay: .seconds(60)), 1_000_000),  // capped
            (NetemSpec(delay: .seconds(60), jitter: .seconds(60)), 1_000_000),
            // 12 Gbit/s = 1.5 GB/s: 1,000,000 packets of 1500 bytes a second, more than 100,000.
            (NetemSpec(delay: ms(100), rate: Rate(bitsPerSecond: 12_000_000_000)), 100_000),
            (NetemSpec(delay: ms(100), rate: Rate(bitsPerSecond: 1_000_000)), 10_000),  // a slow rate adds nothing
            (NetemSpec(rate: Rate(bitsPerSecond: 100_000_000_000_000)), 1000),  // no delay: nothing in flight
            (NetemSpec(delay: .seconds(60), rate: Rate(bitsPerSecond: 100_000_000_000_000)), 1_000_000),
            (NetemSpec(delay: ms(100), limit: 10), 10),  // --limit wins
            (NetemSpec(delay: Duration(nanoseconds: .max), jitter: Duration(nanoseconds: .max)), 1_000_000)
        ] as [(NetemSpec, UInt32)])
    func effectiveLimit(spec: NetemSpec, limit: UInt32) {
        #expect(spec.effectiveLimit == limit)
    }

    @Test("a journal entry written before --limit existed decodes with no limit")
    func decodesWithoutLimit() throws {
        let old = #"{"delay":{"nanoseconds":100000000},"loss":{"value":5}}"#
        let spec = try JSONDecoder().decode(NetemSpec.self, from: Data(old.utf8))
        #expect(spec == NetemSpec(delay: ms(100), loss: Percent(5)))
        #expect(spec.effectiveLimit == 10_000)
    }
}

@Suite struct LeaseLimitsTests {
    @Test func rejectsZero() {
        let error = #expect(throws: InputError.self) { try LeaseLimits.validate(.zero) }
        #expect(error?.message == "--for must be longer than 0s")
    }

    @Test(arguments: [Duration.seconds(1), LeaseLimits.defaultDuration, Duration.seconds(24 * 3600)])
    func accepts(_ d: Duration) {
        #expect(throws: Never.self) { try LeaseLimits.validate(d) }
    }

    @Test func rejectsOver24h() {
        let error = #expect(throws: InputError.self) { try LeaseLimits.validate(.seconds(25 * 3600)) }
        #expect(error?.message.contains("at most 24h") == true)
        #expect(throws: InputError.self) { try LeaseLimits.validate(Duration(nanoseconds: 24 * 3_600_000_000_000 + 1)) }
    }
}

@Suite struct ScheduleTests {
    @Test func defaultsToFromStart() throws {
        let s = try Schedule.parse(after: nil, every: nil, on: nil)
        #expect(s == .always && s.fromStart)
        #expect(s.windows(until: .seconds(10)).map { [$0.start, $0.end] } == [[.zero, .seconds(10)]])
    }

    @Test func afterDelaysTheOnlyWindow() throws {
        let s = try Schedule.parse(after: "5s", every: nil, on: nil)
        #expect(!s.fromStart)
        #expect(s.windows(until: .seconds(60)).map { [$0.start, $0.end] } == [[.seconds(5), .seconds(60)]])
        #expect(s.windows(until: .seconds(3)).isEmpty)
    }

    @Test func flapping() throws {
        let s = try Schedule.parse(after: "1s", every: "10s", on: "2s")
        let w = s.windows(until: .seconds(25)).map { [$0.start, $0.end] }
        #expect(w == [[.seconds(1), .seconds(3)], [.seconds(11), .seconds(13)], [.seconds(21), .seconds(23)]])
        #expect(s.windows(until: .seconds(12)).last.map { [$0.start, $0.end] } == [.seconds(11), .seconds(12)])
    }

    @Test(
        arguments: [
            (nil, "2s", "--on needs --every"), ("10s", nil, "--every needs --on"),
            ("2s", "2s", "must be shorter than --every"), ("10s", "0s", "--on 0ms is shorter than 100ms"),
            ("10ms", "5ms", "--on 5ms is shorter than 100ms, the shortest on-period netfault can keep"),
            ("150ms", "100ms",
             "leaves 50ms between on-periods; the least netfault can keep is 100ms: make --every at least 200ms"),
        ] as [(String?, String?, String)])
    func rejects(every: String?, on: String?, message: String) {
        #expect { try Schedule.parse(after: nil, every: every, on: on) } throws: {
            ($0 as? InputError)?.message.contains(message) == true
        }
    }

    @Test("the shortest periods a schedule keeps: 100ms on and 100ms off")
    func shortestKept() throws {
        let s = try Schedule.parse(after: nil, every: "200ms", on: "100ms")
        #expect(s.windows(until: .milliseconds(400)).count == 2)
    }
}

/// Leases that could install nothing are refused before anything happens.
struct NothingToInstallTests {
    @Test("--host that no packet carries: the unspecified address, an IPv4 address written as IPv6")
    func hosts() {
        for host in ["0.0.0.0", "::", "::ffff:127.0.0.1"] {
            #expect(throws: InputError.self, "\(host)") { try Target.parse("redis", host: host) }
        }
        #expect((try? Target.parse("redis", host: "127.0.0.1")) != nil)
        #expect((try? Target.parse("redis", host: "::1")) != nil)
    }

    @Test("schedules that never put the faults in within --for, or only for less than 1ms")
    func schedules() throws {
        #expect(throws: InputError.self) {
            try Schedule.parse(after: "1s", every: nil, on: nil).validate(within: .seconds(1))
        }
        #expect(throws: InputError.self) {
            try Schedule.parse(after: nil, every: "1ms", on: "1us").validate(within: .seconds(10))
        }
        try Schedule.parse(after: "1s", every: nil, on: nil).validate(within: .seconds(2))
        try Schedule.parse(after: nil, every: "10s", on: "2s").validate(within: .seconds(60))
    }
}
