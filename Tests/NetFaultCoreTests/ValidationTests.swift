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
        NetemSpec(delay: ms(100), jitter: ms(10), delayCorrelation: Percent(25), distribution: .normal,
                  loss: Percent(5), lossCorrelation: Percent(25), duplicate: Percent(1), corrupt: Percent(0.1),
                  reorder: Percent(25), gap: 5, rate: Rate(bitsPerSecond: 1_000_000)),
    ])
    func valid(_ spec: NetemSpec) {
        #expect(throws: Never.self) { try spec.validate() }
    }

    @Test func summary() {
        let spec = NetemSpec(delay: ms(100), jitter: ms(10), loss: Percent(5), reorder: Percent(25), gap: 5)
        #expect(spec.summary == "delay 100ms ±10ms, loss 5%, reorder 25% gap 5")
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
