import NetFaultCore
import Testing
@testable import NetFaultServe

/// Each toxic type's attributes: their one range, how the JSON decodes into the typed toxic,
/// and the message each bad value gets (Toxiproxy's "bad request body" prefix, the attribute,
/// what is wrong).
@Suite struct ToxicTypeTests {
    /// Every attribute of every type and its maximum, in the JSON's unit: the ranges, once.
    static let ranges: [(ToxicType, String, Int64)] = [
        (.latency, "latency", 3_600_000), (.latency, "jitter", 3_600_000),
        (.bandwidth, "rate", 1_000_000_000),
        (.slow_close, "delay", 3_600_000),
        (.timeout, "timeout", 3_600_000),
        (.reset_peer, "timeout", 3_600_000),
        (.slicer, "average_size", 1 << 30), (.slicer, "size_variation", 1 << 30), (.slicer, "delay", 86_400_000_000),
        (.limit_data, "bytes", 1 << 53),
    ]

    func parse(_ type: ToxicType, _ attributes: String) throws -> Toxic {
        try Toxic.parse(JSONValue.parse(Array(#"{"type":"\#(type.rawValue)","attributes":{\#(attributes)}}"#.utf8)))
    }

    func message(_ body: () throws -> Any) -> String? {
        do { _ = try body() } catch let e as ApiError {
            return e.status == 400 ? e.error : "status \(e.status)"
        } catch {
            return "\(error)"
        }
        return nil
    }

    @Test("the table names every attribute of every type, and noop has none")
    func tableIsComplete() {
        for type in ToxicType.allCases {
            #expect(type.attributeNames.sorted() == Self.ranges.filter { $0.0 == type }.map(\.1).sorted(), "\(type)")
        }
        #expect(ToxicType.noop.attributeNames.isEmpty)
    }

    @Test("0 and the maximum are taken; every type defaults to 0")
    func boundsAreTaken() throws {
        for (type, name, most) in Self.ranges {
            #expect(try parse(type, "").attributes[name] == 0)
            #expect(try parse(type, #""\#(name)":0"#).attributes[name] == 0)
            #expect(try parse(type, #""\#(name)":\#(most)"#).attributes[name] == most, "\(type) \(name)")
        }
    }

    @Test("a bad value per attribute gets 400 with its message", arguments: ToxicTypeTests.ranges.indices)
    func badValues(_ index: Int) throws {
        let (type, name, most) = Self.ranges[index]
        // The JSON's numbers are doubles here: above 2^53 (limit_data's maximum) the next one
        // up is 2^53 + 2.
        let next = most < 1 << 53 ? most + 1 : most + 2
        let table: [(String, String)] = [
            ("-1", "is negative (-1)"),
            ("\(next)", "\(next) is above its maximum \(most)"),
            ("1.5", "must be a whole number, not 1.5"),
            (#""5""#, "must be a whole number, not a string"),
            ("true", "must be a whole number, not a boolean"),
            ("null", "must be a whole number, not null"),
            ("[1]", "must be a whole number, not an array"),
            ("1e308", "1e+308 is above its maximum \(most)"),
            ("-1e300", "is negative (-1e+300)"),
            ("9.3e18", "9.3e+18 is above its maximum \(most)"),
            // -2^63 fits Int64, but is shown as the double it was read as (as every number from 2^63 out).
            ("-9223372036854775808", "is negative (-9.223372036854776e+18)"),
            ("-9223372036854775807", "is negative (-9.223372036854776e+18)"),
        ]
        for (value, why) in table {
            #expect(
                message { try parse(type, #""\#(name)":\#(value)"#) } == "bad request body: attribute \(name) \(why)",
                "\(type) \(name) \(value)")
        }
    }

    @Test("the JSON decodes into the typed toxic, in each attribute's unit")
    func decodesTyped() throws {
        #expect(try parse(.latency, #""latency":100,"jitter":5"#).kind
            == .latency(LatencyToxic(latency: .milliseconds(100), jitter: .milliseconds(5))))
        #expect(try parse(.bandwidth, #""rate":64"#).kind == .bandwidth(BandwidthToxic(rate: 64)))
        #expect(try parse(.slow_close, #""delay":300"#).kind == .slowClose(SlowCloseToxic(delay: .milliseconds(300))))
        #expect(try parse(.timeout, #""timeout":4000"#).kind == .timeout(TimeoutToxic(timeout: .seconds(4))))
        #expect(try parse(.reset_peer, #""timeout":20"#).kind == .resetPeer(ResetPeerToxic(timeout: .milliseconds(20))))
        // slicer's delay is in microseconds, as Toxiproxy's.
        #expect(try parse(.slicer, #""average_size":10,"size_variation":2,"delay":20"#).kind
            == .slicer(SlicerToxic(averageSize: 10, sizeVariation: 2, delay: Duration(nanoseconds: 20_000))))
        #expect(try parse(.limit_data, #""bytes":1000"#).kind == .limitData(LimitDataToxic(bytes: 1000)))
        #expect(try parse(.noop, #""latency":5"#).kind == .noop(NoopToxic()))
    }

    @Test("attributes a type does not have are ignored, as Toxiproxy's JSON decoder ignores them")
    func unknownAttributesAreIgnored() throws {
        let t = try parse(.latency, #""latency":10,"rate":-5,"bytes":"x","Latency":1e308"#)
        #expect(t.attributes == ["latency": 10, "jitter": 0])
    }

    @Test("a typed toxic made in code is held to the same ranges, with the same messages")
    func typedCheck() {
        let over = Toxic(.latency(LatencyToxic(latency: .milliseconds(3_600_001))), stream: .upstream)
        #expect(
            message { try over.check() } == "bad request body: attribute latency 3600001 is above its maximum 3600000")
        let negative = Toxic(.limitData(LimitDataToxic(bytes: -1)), stream: .downstream)
        #expect(message { try negative.check() } == "bad request body: attribute bytes is negative (-1)")
        let fraction = Toxic(.latency(LatencyToxic(latency: Duration(nanoseconds: 1_500_000))), stream: .upstream)
        #expect(message { try fraction.check() }?.contains("attribute latency must be whole ms") == true)
        let toxicity = Toxic(.noop(NoopToxic()), stream: .upstream, toxicity: 1.5)
        #expect(message { try toxicity.check() } == "bad request body: toxicity 1.5 is outside 0...1")
        #expect(message { try Toxic(name: "a/b", stream: .upstream, .noop(NoopToxic())).check() }?
            .contains("may not contain") == true)
        #expect(message { try Toxic(.slicer(SlicerToxic(averageSize: 1 << 30)), stream: .upstream).check() } == nil)
    }

    @Test("the JSON a toxic shows is Toxiproxy's: attributes by name in their units, keys sorted")
    func encodes() throws {
        let t = Toxic(name: "s", stream: .downstream, .slicer(SlicerToxic(averageSize: 10, delay: .milliseconds(1))))
        let json = ApiResponse.json(t).body
        #expect(String(decoding: json, as: UTF8.self) == #"""
            {"attributes":{"average_size":10,"delay":1000,"size_variation":0},"name":"s","stream":"downstream",\#
            "toxicity":1,"type":"slicer"}
            """#)
    }
}
