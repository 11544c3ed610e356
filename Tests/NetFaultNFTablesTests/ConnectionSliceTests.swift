import Foundation
import TestSupport
import Testing

/// --slice on this host's kernel: the MSS of the client's SYN set, so the server's segments
/// carry at most that much payload. Counted by a table of the test's own (in the namespace) on
/// the server's packets longer than headers plus the slice, over loopback with 1500-byte frames
/// and no offloads, for a GET of a 64 KB value that must still arrive whole.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ConnectionSliceTests {
    /// The server's packets with more than 100 bytes of TCP payload (TCP header with timestamps:
    /// 32 bytes; IPv4 header 20, IPv6's 40 outside its payload length).
    func countOversized(_ ns: Namespace) throws {
        let rules = """
            table inet slicecount {
                chain input {
                    type filter hook input priority 0; policy accept;
                    tcp sport 6379 ip length > 152 counter
                    tcp sport 6379 ip6 length > 132 counter
                }
            }
            """
        let path = "\(ns.dir)/slicecount.nft"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try ns.exec("nft", "-f", path).status == 0)
    }

    func oversized(_ ns: Namespace) throws -> Int {
        let listing = try ns.exec("nft", "list", "table", "inet", "slicecount").stdout
        return listing.split(separator: "\n").compactMap { line -> Int? in
            guard let r = line.range(of: "counter packets ") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }.reduce(0, +)
    }

    func get(_ ns: Namespace, _ host: String) throws -> String {
        try ns.exec("python3", "-c", ConnectionBudgetTests.getter, host, "get").stdout
    }

    @Test("--slice 100: no segment from the server carries more than 100 bytes, the GET arrives whole, IPv4 and IPv6",
          arguments: ["127.0.0.1", "::1"])
    func sliced(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            #expect(try ns.exec("ip", "link", "set", "lo", "mtu", "1500").status == 0)
            #expect(try ns.exec("ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off").status == 0)
            #expect(try ns.exec("python3", "-c", ConnectionBudgetTests.getter, host, "set").stdout.contains("OK"))
            try countOversized(ns)
            // Without the lease the count sees the full segments (it can fail).
            #expect(try get(ns, host).hasPrefix("whole \(ConnectionBudgetTests.reply)"))
            let before = try oversized(ns)
            #expect(before > 10, "\(before) oversized packets without --slice")
            let lease = try ns.apply("redis", "--slice", "100", "--for", "5m")
            #expect(try get(ns, host).hasPrefix("whole \(ConnectionBudgetTests.reply)"))
            #expect(try oversized(ns) == before, "a segment over 100 bytes under --slice 100")
            #expect(try ns.revert(lease.id).status == 0)
            #expect(try ns.exec("nft", "delete", "table", "inet", "slicecount").status == 0)
        }
    }
}
