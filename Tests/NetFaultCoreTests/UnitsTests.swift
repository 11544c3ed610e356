import Testing
@testable import NetFaultCore

@Suite struct DurationTests {
    @Test(arguments: [
        ("250us", Int64(250_000)), ("100ms", 100_000_000), ("2s", 2_000_000_000),
        ("1.5s", 1_500_000_000), ("2m", 120_000_000_000), ("1h", 3_600_000_000_000),
        (" 10MS ", 10_000_000), ("0ms", 0)
    ])
    func parses(text: String, nanoseconds: Int64) throws {
        #expect(try Duration.parse(text, what: "--delay").nanoseconds == nanoseconds)
    }

    @Test(arguments: ["abc", "100", "ms", "10x", "1.2.3s", "+5ms", "", "5 days"])
    func rejectsText(_ text: String) {
        let error = #expect(throws: InputError.self) { try Duration.parse(text, what: "--jitter") }
        #expect(error?.message.hasPrefix("--jitter '\(text)' is not a duration") == true)
    }

    @Test func rejectsNegative() {
        let error = #expect(throws: InputError.self) { try Duration.parse("-5ms", what: "--delay") }
        #expect(error?.message.contains("negative") == true)
        #expect(error?.message.contains("--delay") == true)
    }

    @Test(arguments: ["250us", "100ms", "1500ms", "2s", "90s", "2m", "1h", "0ms"])
    func descriptionRoundTrips(_ text: String) throws {
        let d = try Duration.parse(text, what: "--delay")
        #expect(d.description == text)
        #expect(try Duration.parse(d.description, what: "--delay") == d)
    }

    @Test func descriptionPicksLargestExactUnit() throws {
        #expect(try Duration.parse("1.5s", what: "--for").description == "1500ms")
        #expect(try Duration.parse("120s", what: "--for").description == "2m")
        #expect(try Duration.parse("60m", what: "--for").description == "1h")
    }
}

@Suite struct PercentTests {
    @Test(arguments: [("5%", 5.0), ("5", 5.0), ("0", 0.0), ("0%", 0.0), ("100%", 100.0), ("0.1%", 0.1), (" 30% ", 30.0)]
    )
    func parses(text: String, value: Double) throws {
        #expect(try Percent.parse(text, what: "--loss").value == value)
    }

    @Test(arguments: ["120%", "-1", "100.5", "abc", "%", "", "+5%"])
    func rejects(_ text: String) {
        let error = #expect(throws: InputError.self) { try Percent.parse(text, what: "--loss") }
        #expect(error?.message.hasPrefix("--loss '\(text)'") == true)
    }

    @Test func description() {
        #expect(Percent(5).description == "5%")
        #expect(Percent(0.1).description == "0.1%")
    }
}

@Suite struct RateTests {
    @Test(arguments: [
        ("500kbit", UInt64(500_000)), ("1mbit", 1_000_000), ("1gbit", 1_000_000_000),
        ("40gbit", 40_000_000_000), ("10kbps", 80_000), ("1mbps", 8_000_000), ("8bit", 8), ("1.5Mbit", 1_500_000)
    ])
    func parses(text: String, bits: UInt64) throws {
        #expect(try Rate.parse(text).bitsPerSecond == bits)
    }

    @Test func rejectsTooSmall() {
        let error = #expect(throws: InputError.self) { try Rate.parse("7bit") }
        #expect(error?.message.contains("too small") == true)
        #expect(error?.message.hasPrefix("--rate") == true)
    }

    @Test func rejectsTooLarge() {
        let error = #expect(throws: InputError.self) { try Rate.parse("200tbit") }
        #expect(error?.message.contains("too large") == true)
    }

    @Test(arguments: ["fast", "100", "mbit", "1xbit"])
    func rejectsText(_ text: String) {
        let error = #expect(throws: InputError.self) { try Rate.parse(text, what: "--rate") }
        #expect(error?.message.contains("is not a rate") == true)
    }

    @Test func description() throws {
        #expect(try Rate.parse("1mbit").description == "1mbit")
        #expect(try Rate.parse("1500kbit").description == "1500kbit")
        #expect(Rate(bitsPerSecond: 1001).description == "1001bit")
    }
}
