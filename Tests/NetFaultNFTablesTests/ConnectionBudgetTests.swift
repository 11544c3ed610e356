import Foundation
import TestSupport
import Testing

/// --limit-data on this host's kernel: a quota per connection in the lease's table, against a
/// real redis-server on loopback with 1500-byte frames and no offloads (so the server's reply
/// leaves in segments, as it would over a network, not as one 64 KB loopback packet).
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ConnectionBudgetTests {
    /// `set`: stores a 64 KB value. `get`: GETs it on a new connection and prints `OUTCOME BYTES`
    /// (whole, reset, timeout after 2 s of silence, eof; BYTES: what arrived, read after the reset
    /// too), then what another connection's PING got.
    static let getter = """
        import socket, sys, time
        host, mode = sys.argv[1], sys.argv[2]
        if mode == "set":
            s = socket.create_connection((host, 6379), timeout=5)
            s.sendall(b"SET big " + b"x" * 65536 + b"\\r\\n")
            print(s.recv(16).decode().strip()); sys.exit(0)
        s = socket.create_connection((host, 6379), timeout=5)
        s.settimeout(2)
        s.sendall(b"GET big\\r\\n")
        got, outcome = 0, "whole"
        try:
            while got < 65536 + 10:
                d = s.recv(65536)
                if not d:
                    outcome = "eof"; break
                got += len(d)
        except ConnectionResetError:
            # Linux reports the reset before the data that came ahead of it: read that too.
            outcome = "reset"
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    got += len(d)
            except OSError:
                pass
        except socket.timeout:
            outcome = "timeout"
        print(outcome, got)
        p = socket.create_connection((host, 6379), timeout=5)
        p.sendall(b"PING\\r\\n")
        print(p.recv(16).decode().strip())
        """

    /// The GET's whole reply: `$65536\r\n`, the value, `\r\n`.
    static let reply = 8 + 65536 + 2

    func smallFrames(_ ns: Namespace) throws {
        #expect(try ns.exec("ip", "link", "set", "lo", "mtu", "1500").status == 0)
        let r = try ns.exec("ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off")
        #expect(r.status == 0, "\(r.stderr)")
    }

    func get(_ ns: Namespace, _ host: String) throws -> (outcome: String, bytes: Int, ping: String) {
        let r = try ns.exec("python3", "-c", Self.getter, host, "get")
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let first = lines.first?.split(separator: " ") ?? []
        return (first.first.map(String.init) ?? "", Int(first.last ?? "") ?? -1, lines.count > 1 ? lines[1] : "")
    }

    @Test("--limit-data 4096: a GET of 64 KB is reset after about 4 KB, a new connection answers PING, IPv4 and IPv6",
          arguments: ["127.0.0.1", "::1"])
    func resetsTheClient(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            try smallFrames(ns)
            #expect(try ns.exec("python3", "-c", Self.getter, host, "set").stdout.contains("OK"))
            #expect(try get(ns, host) == ("whole", Self.reply, "+PONG"), "without a lease")
            let lease = try ns.apply("redis", "--limit-data", "4096", "--for", "5m")
            let r = try get(ns, host)
            trace("--limit-data 4096 on \(host): \(r)")
            // The server's third segment became the reset; Linux may drop the two before it,
            // unread, with the connection (measured: it does here), so only the bound is sure.
            #expect(r.outcome == "reset" && r.bytes < 4096 && r.ping == "+PONG", "\(r)")
            // The server sent 4 KB (headers included) on that connection before its segment became the reset.
            let set = host.contains(":") ? "budget6" : "budget4"
            let listed = try ns.exec("nft", "list", "set", "inet", "netfault-\(lease.id)", set).stdout
            #expect(listed.contains("quota over 4 kbytes used 4 kbytes"), "\(listed)")
            #expect(try ns.revert(lease.id).status == 0)
            #expect(try get(ns, host) == ("whole", Self.reply, "+PONG"), "after revert")
        }
    }

    @Test("--limit-data 4096 --limit-data-action close: the GET stalls short of 4 KB, a new connection answers")
    func closeStalls() throws {
        try withServers(mariadb: false) { ns in
            try smallFrames(ns)
            #expect(try ns.exec("python3", "-c", Self.getter, "127.0.0.1", "set").stdout.contains("OK"))
            let lease = try ns.apply("redis", "--limit-data", "4096", "--limit-data-action", "close", "--for", "5m")
            let r = try get(ns, "127.0.0.1")
            #expect(r.outcome == "timeout" && r.bytes < 4096 && r.ping == "+PONG", "\(r)")
            #expect(try ns.revert(lease.id).status == 0)
        }
    }

    /// The timer and budget sets live in the lease's owner table: a killed watchdog takes them
    /// along, and so does the deadline, with no netfault command run.
    @Test("SIGKILL of the watchdog, and the deadline, leave nothing of --reset-after and --limit-data")
    func nothingLeft() throws {
        try withServers(mariadb: false) { ns in
            try smallFrames(ns)
            #expect(try ns.exec("python3", "-c", Self.getter, "127.0.0.1", "set").stdout.contains("OK"))
            let killed = try ns.apply("redis", "--reset-after", "1s", "--limit-data", "4096", "--for", "5m")
            #expect(try get(ns, "127.0.0.1").outcome == "reset")
            let sets = try ns.exec("nft", "list", "set", "inet", "netfault-\(killed.id)", "seen4").stdout
            #expect(sets.contains("127.0.0.1 . "), "the connection in seen4: \(sets)")
            let pid = pid_t(try #require(killed.output["watchdog_pid"] as? Int, "\(killed.output)"))
            #expect(kill(pid, SIGKILL) == 0)
            #expect(try ns.awaitTableGone("netfault-\(killed.id)", seconds: 10))
            #expect(try get(ns, "127.0.0.1") == ("whole", Self.reply, "+PONG"))
            _ = try ns.netfault("status")  // sweeps the dead lease's journal entry
            ns.forget(killed.id)

            let timed = try ns.apply("redis", "--limit-data", "4096", "--for", "2s")
            #expect(try get(ns, "127.0.0.1").outcome == "reset")
            #expect(try ns.awaitTableGone("netfault-\(timed.id)", seconds: 30))
            ns.forget(timed.id)
            #expect(try get(ns, "127.0.0.1") == ("whole", Self.reply, "+PONG"))
        }
    }
}
