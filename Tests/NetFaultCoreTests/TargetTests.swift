import Testing
import NetFaultCore

@Suite struct TargetTests {
    @Test(arguments: [
        ("mysql", UInt16(3306)), ("redis", 6379), ("postgres", 5432), ("memcached", 11211), ("Redis", 6379)
    ])
    func service(name: String, port: UInt16) throws {
        let t = try Target.parse(name)
        #expect(t.ports == [port])
        #expect(t.host == nil)
    }

    @Test func numericPort() throws {
        #expect(try Target.parse("6380").ports == [6380])
        #expect(try Target.parse("1").ports == [1])
        #expect(try Target.parse("65535").ports == [65535])
    }

    @Test func list() throws {
        let t = try Target.parse("mysql,6380")
        #expect(t.ports == [3306, 6380])
        #expect(t.name == "mysql,6380")
        #expect(t.description == "mysql,6380 (port 3306,6380)")
    }

    @Test func listDeduplicatesKeepingOrder() throws {
        #expect(try Target.parse("redis, mysql,3306,6379").ports == [6379, 3306])
    }

    @Test(arguments: ["0", "70000", "65536", "99999999999999999999"])
    func portOutOfRange(_ text: String) {
        let error = #expect(throws: InputError.self) { try Target.parse(text) }
        #expect(error?.message.contains("out of range") == true)
    }

    @Test(arguments: ["foo", "mysql,foo", "-1", "63 79"])
    func unknownTarget(_ text: String) {
        let error = #expect(throws: InputError.self) { try Target.parse(text) }
        #expect(error?.message.hasPrefix("unknown target") == true)
    }

    @Test(arguments: ["", "mysql,", ",redis", "mysql,,redis"])
    func emptyEntry(_ text: String) {
        let error = #expect(throws: InputError.self) { try Target.parse(text) }
        #expect(error?.message.contains("empty entry") == true)
    }

    @Test func ipv4Host() throws {
        let t = try Target.parse("redis", host: "10.0.0.5")
        let host = try #require(t.host)
        #expect(host.family == .ipv4)
        #expect(host.bytes == [10, 0, 0, 5])
        #expect(t.description == "redis (port 6379) on 10.0.0.5")
    }

    @Test func ipv6Host() throws {
        let host = try #require(try Target.parse("6379", host: "::1").host)
        #expect(host.family == .ipv6)
        #expect(host.bytes == [UInt8](repeating: 0, count: 15) + [1])
        #expect(host.description == "::1")
    }

    @Test(arguments: ["db.example.com", "10.0.0.256", "1.2.3", "::g", ""])
    func badHost(_ host: String) {
        let error = #expect(throws: InputError.self) { try Target.parse("mysql", host: host) }
        #expect(error?.message.hasPrefix("--host '\(host)'") == true)
    }

    @Test func directionSides() {
        #expect(Direction.toServer.matchesToServer && !Direction.toServer.matchesFromServer)
        #expect(!Direction.fromServer.matchesToServer && Direction.fromServer.matchesFromServer)
        #expect(Direction.both.matchesToServer && Direction.both.matchesFromServer)
        #expect(Direction(rawValue: "from-server") == .fromServer)
    }
}
