import Foundation
import TestSupport
import Testing

/// --connections on this host's kernel: each new connection drawn once at its SYN, in a fresh
/// namespace against a real redis-server on loopback (both of loopback's passes, both
/// directions). Counts and orders only: nothing here depends on how fast the machine is.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ConnectionShareTests {
    /// Opens `count` connections one after another; prints one letter each: R refused, O open
    /// (with `ping`: O when PING got +PONG, T when nothing came back within 5 s).
    static let client = """
        import socket, sys
        host, port, count, ping = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "ping"
        out = []
        for _ in range(count):
            try:
                s = socket.create_connection((host, port), timeout=10)
            except ConnectionRefusedError:
                out.append("R"); continue
            if ping:
                s.settimeout(5)
                try:
                    s.sendall(b"PING\\r\\n")
                    out.append("O" if s.recv(64).startswith(b"+PONG") else "?")
                except socket.timeout:
                    out.append("T")
            else:
                out.append("O")
            s.close()
        print("".join(out))
        """

    func connect(_ ns: Namespace, _ host: String, count: Int, ping: Bool = false) throws -> String {
        let r = try ns.exec("python3", "-c", Self.client, host, "6379", "\(count)", ping ? "ping" : "open")
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// 300 new connections, P = 30%: refused ones are Binomial(300, 0.3), 90 ± 4σ (σ ≈ 7.9).
    @Test("--reject --connections 30% refuses 30% ± 4σ of 300 new connections, IPv4 and IPv6", arguments: ["127.0.0.1", "::1"])
    func percent(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--reject", "--connections", "30%", "--for", "5m")
            let lots = try connect(ns, host, count: 300)
            #expect(lots.count == 300, "\(lots)")
            let refused = lots.filter { $0 == "R" }.count
            let sigma = (300 * 0.3 * 0.7).squareRoot()
            trace("--connections 30% on \(host): \(refused) of 300 refused")
            #expect(Double(refused) >= 90 - 4 * sigma && Double(refused) <= 90 + 4 * sigma, "\(refused): \(lots)")
            #expect(lots.allSatisfy { $0 == "R" || $0 == "O" }, "\(lots)")
            // status counts the draws: the refused ones in, the others out, each connection once.
            let status = try #require(try ns.statusLeases().first { $0["lease"] as? String == lease.id })
            #expect(status["connections_drawn_in"] as? Int == refused, "\(status)")
            #expect(status["connections_drawn_out"] as? Int == 300 - refused, "\(status)")
            #expect(status["packets_matched"] as? Int == refused, "one refused SYN each: \(status)")
            #expect(try ns.revert(lease.id).status == 0)
            #expect(try connect(ns, host, count: 20) == String(repeating: "O", count: 20), "after revert")
        }
    }

    @Test("--reject --connections every:3 refuses exactly every third new connection, IPv4 and IPv6", arguments: ["127.0.0.1", "::1"])
    func everyThird(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--reject", "--connections", "every:3", "--for", "5m")
            let lots = try connect(ns, host, count: 300)
            #expect(lots == String(repeating: "OOR", count: 100), "\(lots)")
            // revert says what the lease drew: 100 into the faults, 200 left alone.
            if host == "::1" {
                let r = try ns.revert(lease.id)
                #expect(r.status == 0 && r.stdout.contains("100 new connections drawn into the faults, 200 left alone"),
                    "\(r.stdout)")
            } else {
                let r = try ns.netfault("revert", lease.id, "--json")
                ns.forget(lease.id)
                let drawn = jsonObject(r)["connections_drawn"] as? [String: [String: Int]]
                #expect(r.status == 0 && drawn == [lease.id: ["in": 100, "out": 200]], "\(r.stdout)")
            }
        }
    }

    /// --hang drops every packet of a chosen connection but its handshake, in both directions:
    /// the chosen ones connect and then hear nothing, the others answer PING; every other one.
    @Test("--hang --connections every:2: every second connection connects and hears nothing, the others answer")
    func hangEverySecond() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--hang", "--connections", "every:2", "--for", "5m")
            #expect(try connect(ns, "127.0.0.1", count: 6, ping: true) == "OTOTOT")
            #expect(try ns.revert(lease.id).status == 0)
        }
    }

    /// The decision sets live in the lease's owner table: a killed watchdog takes them along,
    /// and so does the deadline, with no netfault command run.
    @Test("SIGKILL of the watchdog, and the deadline, leave nothing of --connections in the ruleset")
    func nothingLeft() throws {
        try withServers(mariadb: false) { ns in
            let killed = try ns.apply("redis", "--reject", "--connections", "every:2", "--for", "5m")
            _ = try connect(ns, "127.0.0.1", count: 4)
            let sets = try ns.exec("nft", "list", "set", "inet", "netfault-\(killed.id)", "chosen4").stdout
            #expect(sets.contains("127.0.0.1 . "), "a chosen connection in chosen4: \(sets)")
            let pid = pid_t(try #require(killed.output["watchdog_pid"] as? Int, "\(killed.output)"))
            #expect(kill(pid, SIGKILL) == 0)
            #expect(try ns.awaitTableGone("netfault-\(killed.id)", seconds: 10))
            #expect(try connect(ns, "127.0.0.1", count: 6) == "OOOOOO")
            _ = try ns.netfault("status")  // sweeps the dead lease's journal entry
            ns.forget(killed.id)

            let timed = try ns.apply("redis", "--reject", "--connections", "every:2", "--for", "2s")
            #expect(try connect(ns, "127.0.0.1", count: 2) == "OR")
            #expect(try ns.awaitTableGone("netfault-\(timed.id)", seconds: 30))
            ns.forget(timed.id)
            #expect(try connect(ns, "127.0.0.1", count: 6) == "OOOOOO")
        }
    }
}
