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

    /// Every port, highest first and then each again: the order given, each port once. Also a
    /// guard on the cost: deduplicating by searching the list takes minutes on this input.
    @Test func everyPortDeduplicatedKeepingOrder() throws {
        let descending = (1...65535).reversed().map(String.init)
        let text = (descending + descending.shuffled()).joined(separator: ",")
        let t = try Target.parse(text)
        #expect(t.ports.count == 65535)
        #expect(t.ports.first == 65535 && t.ports.last == 1)
        #expect(t.ports == (1...65535).reversed().map(UInt16.init))
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

/// --iface must be a device --host's packets pass, else the lease installs and matches nothing.
@Suite struct IfaceCheckTests {
    func target(_ host: String?) throws -> Target { try Target.parse("redis", host: host) }

    @Test(arguments: [
        ("127.0.0.1", true), ("127.255.0.3", true), ("::1", true), ("128.0.0.1", false), ("10.50.0.2", false),
        ("::2", false), ("fe80::1", false)
    ])
    func loopbackAddresses(text: String, loopback: Bool) throws {
        #expect(try #require(IPAddress(text)).isLoopback == loopback)
    }

    @Test("--iface lo with a host routed elsewhere is refused, naming the device it is routed through")
    func loopbackDeviceRemoteHost() throws {
        let error = #expect(throws: InputError.self) {
            try target("10.50.0.2").checkIface("lo", isLoopback: true, routed: ("veth0", false))
        }
        let message = error?.message ?? ""
        #expect(message.contains("--iface lo is the loopback device, but --host 10.50.0.2 is reached through veth0"))
        #expect(message.contains("match nothing") && message.contains("leave out --iface"))
        #expect(message.contains("or give --iface veth0"))
    }

    @Test("--iface lo with a host that has no route at all is refused")
    func loopbackDeviceUnroutedHost() throws {
        let error = #expect(throws: InputError.self) {
            try target("10.50.0.2").checkIface("lo", isLoopback: true, routed: nil)
        }
        #expect(error?.message.contains("this host has no route to --host 10.50.0.2") == true)
        #expect(error?.message.contains("give --iface the device the server is reached through") == true)
    }

    @Test("--iface of another device with a loopback host is refused")
    func loopbackHostOtherDevice() throws {
        for host in ["127.0.0.1", "::1"] {
            let error = #expect(throws: InputError.self) {
                try target(host).checkIface("eth0", isLoopback: false, routed: nil)
            }
            #expect(error?.message.contains("--host \(host) is a loopback address") == true)
            #expect(error?.message.contains("never eth0") == true)
        }
    }

    @Test("what the packets do pass is accepted: a loopback or own address on lo, another host elsewhere, no host")
    func accepted() throws {
        try target("127.0.0.1").checkIface("lo", isLoopback: true, routed: nil)
        try target("::1").checkIface("lo", isLoopback: true, routed: nil)
        try target("10.50.0.1").checkIface("lo", isLoopback: true, routed: ("lo", true))  // this host's own
        try target("10.50.0.2").checkIface("eth0", isLoopback: false, routed: nil)
        try target(nil).checkIface("lo", isLoopback: true, routed: nil)
        try target(nil).checkIface("eth0", isLoopback: false, routed: nil)
    }
}
