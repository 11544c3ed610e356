import Foundation
import TestSupport
import Testing

/// `--connections 30%:reject,10%:hang` against redis-server in a namespace: each group gets about
/// its share of 300 new connections, no connection is in two groups, and status and revert count
/// them. Each bound is 5σ of the group's binomial count: a chance failure about once in two million
/// runs; a mix whose groups overlap, or whose second group draws nothing or everything, fails it.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ConnectionMixTests {
    /// Opens `count` connections one after another and sends PING on each that opened; then waits
    /// (at most 10 s in all) for the answers. One letter per connection: R refused, O answered,
    /// T no answer (hung).
    static let client = """
        import select, socket, sys, time
        host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        out, open_ = [], {}
        for i in range(count):
            try:
                s = socket.create_connection((host, port), timeout=10)
            except ConnectionRefusedError:
                out.append("R"); continue
            s.sendall(b"PING\\r\\n")
            s.setblocking(False)
            open_[s] = i
            out.append("T")
        end = time.monotonic() + 10
        while open_ and time.monotonic() < end:
            ready, _, _ = select.select(list(open_), [], [], 0.5)
            for s in ready:
                if s.recv(64).startswith(b"+PONG"):
                    out[open_[s]] = "O"
                del open_[s]
                s.close()
        print("".join(out))
        """

    func within(_ n: Int, of total: Int, share p: Double) -> Bool {
        let mean = Double(total) * p, sigma = (Double(total) * p * (1 - p)).squareRoot()
        return Double(n) >= mean - 5 * sigma && Double(n) <= mean + 5 * sigma
    }

    /// The elements of one of the lease's sets: each connection's source port (the client's).
    func members(_ ns: Namespace, _ table: String, _ set: String) throws -> Set<String> {
        let r = try ns.exec("nft", "-j", "list", "set", "inet", table, set)
        guard let range = r.stdout.range(of: "\"elem\"") else { return [] }
        // {"concat": [addr, port, addr, port]}: the client's port, second.
        let pattern = try NSRegularExpression(pattern: #"\"concat\": \[\"[^\"]+\", (\d+),"#)
        let text = String(r.stdout[range.lowerBound...])
        let ns = text as NSString
        return Set(pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)).map {
            ns.substring(with: $0.range(at: 1))
        })
    }

    @Test("--connections 30%:reject,10%:hang: each group 5σ of its share of 300, none in two, IPv4 and IPv6",
          arguments: ["127.0.0.1", "::1"])
    func mix(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--connections", "30%:reject,10%:hang", "--for", "5m")
            let r = try ns.exec("python3", "-c", Self.client, host, "6379", "300")
            #expect(r.status == 0, "\(r.stderr)")
            let lots = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(lots.count == 300, "\(lots)")
            let refused = lots.filter { $0 == "R" }.count, hung = lots.filter { $0 == "T" }.count
            let served = lots.filter { $0 == "O" }.count
            trace("--connections 30%:reject,10%:hang on \(host): \(refused) refused, \(hung) hung, \(served) served")
            #expect(within(refused, of: 300, share: 0.3), "\(refused) refused: \(lots)")
            #expect(within(hung, of: 300, share: 0.1), "\(hung) hung: \(lots)")
            #expect(within(served, of: 300, share: 0.6), "\(served) served: \(lots)")
            // In the kernel: the groups' sets hold those connections, and no connection is in two.
            let v = host.contains(":") ? "6" : "4", table = "netfault-\(lease.id)"
            let first = try members(ns, table, "chosen\(v)"), second = try members(ns, table, "chosen\(v)_2")
            let passed = try members(ns, table, "passed\(v)")
            #expect(first.count == refused && second.count == hung && passed.count == served,
                "sets \(first.count)/\(second.count)/\(passed.count)")
            #expect(first.isDisjoint(with: second) && first.isDisjoint(with: passed) && second.isDisjoint(with: passed))
            let status = try #require(try ns.statusLeases().first { $0["lease"] as? String == lease.id })
            #expect(status["connections_drawn_in"] as? Int == refused + hung, "\(status)")
            #expect(status["connections_drawn_out"] as? Int == served, "\(status)")
            let groups = status["connections_drawn_groups"] as? [String: Int]
            #expect(groups == ["30%:reject": refused, "10%:hang": hung], "\(status)")
            #expect((status["requested_netfilter"] as? [String: String])?["connections"] == "30%:reject,10%:hang")
            let revert = try ns.revert(lease.id)
            let each = "\(refused + hung) new connections drawn into the faults (30%:reject \(refused), 10%:hang \(hung)), "
            #expect(revert.status == 0 && revert.stdout.contains(each + "\(served) left alone"), "\(revert.stdout)")
        }
    }

    /// Opens `count` connections, waits `wait` seconds, then sends PING on each that opened and
    /// waits (at most 5 s) for what comes back. One letter per connection: R refused, X reset,
    /// O answered, T nothing (hung).
    static let lateClient = """
        import select, socket, sys, time
        host, port, count, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
        out, open_ = [], {}
        for i in range(count):
            try:
                s = socket.create_connection((host, port), timeout=10)
            except ConnectionRefusedError:
                out.append("R"); continue
            open_[s] = i; out.append("T")
        time.sleep(wait)
        for s in list(open_):
            try:
                s.sendall(b"PING\\r\\n")
            except OSError:
                out[open_.pop(s)] = "X"
        end = time.monotonic() + 5
        while open_ and time.monotonic() < end:
            ready, _, _ = select.select(list(open_), [], [], 0.5)
            for s in ready:
                try:
                    out[open_[s]] = "O" if s.recv(64).startswith(b"+PONG") else "X"
                except OSError:
                    out[open_[s]] = "X"
                del open_[s]
        print("".join(out))
        """

    /// A mix beside a connection timer: its groups' sets and the timer's sets in one table (their
    /// set ids apart), each group's connections refused or hung, and every other one reset once
    /// its time is up. A clash of ids would file connections in the wrong sets.
    @Test("--connections 30%:reject,10%:hang --reset-after 1s: the groups as alone, every other connection reset",
          arguments: ["127.0.0.1", "::1"])
    func mixWithTimer(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--connections", "30%:reject,10%:hang", "--reset-after", "1s")
            let r = try ns.exec("python3", "-c", Self.lateClient, host, "6379", "100", "1.5")
            let lots = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(r.status == 0 && lots.count == 100, "\(lots) \(r.stderr)")
            let count = { (c: Character) in lots.filter { $0 == c }.count }
            trace("mix with --reset-after 1s on \(host): \(lots)")
            let v = host.contains(":") ? "6" : "4", table = "netfault-\(lease.id)"
            let first = try members(ns, table, "chosen\(v)"), second = try members(ns, table, "chosen\(v)_2")
            let passed = try members(ns, table, "passed\(v)"), seen = try members(ns, table, "seen\(v)")
            #expect(within(count("R"), of: 100, share: 0.3) && within(count("T"), of: 100, share: 0.1), "\(lots)")
            #expect(count("O") == 0, "every connection no group drew is reset after 1 s: \(lots)")
            #expect(first.count == count("R") && second.count == count("T") && passed.count == count("X"),
                "sets \(first.count)/\(second.count)/\(passed.count): \(lots)")
            #expect(passed.isSubset(of: seen) && first.isDisjoint(with: second), "timers: \(seen.count)")
            let status = try #require(try ns.statusLeases().first { $0["lease"] as? String == lease.id })
            let groups = ["30%:reject": count("R"), "10%:hang": count("T")]
            #expect(status["connections_drawn_groups"] as? [String: Int] == groups, "\(status)")
            let revert = try ns.netfault("revert", lease.id, "--json")
            let drawn = jsonObject(revert)["connections_drawn_groups"] as? [String: [String: Int]]
            #expect(revert.status == 0 && drawn == [lease.id: groups], "revert --json counts each group: \(revert.stdout)")
            ns.forget(lease.id)
        }
    }

    /// A mix with a scope draws among the scope's connections only: root's are never refused.
    @Test("--connections 40%:reject,10%:hang --uid 65534: its connections drawn, none of root's")
    func mixWithScope() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--connections", "40%:reject,10%:hang", "--uid", "65534")
            let theirs = try ScopeTests().connect(ns, "127.0.0.1", count: 40, ping: true, as: "65534")
            let root = try ScopeTests().connect(ns, "::1", count: 20, ping: true)
            trace("mix with --uid 65534: theirs \(theirs), root's \(root)")
            #expect(root == String(repeating: "O", count: 20), "\(root)")
            let refused = theirs.filter { $0 == "R" }.count, hung = theirs.filter { $0 == "T" }.count
            #expect(within(refused, of: 40, share: 0.4) && within(hung, of: 40, share: 0.1), "\(theirs)")
            let status = try #require(try ns.statusLeases().first { $0["lease"] as? String == lease.id })
            #expect((status["requested_netfilter"] as? [String: String])?["scope"] == "uid 65534", "\(status)")
            #expect(status["connections_drawn_in"] as? Int == refused + hung, "\(status)")
            #expect(try ns.revert(lease.id).status == 0)
        }
    }

    @Test("apply --dry-run of a mix prints a table nft -c accepts, and changes nothing")
    func dryRun() throws {
        try withServers(mariadb: false) { ns in
            let r = try ns.netfault(
                "apply", "redis", "--connections", "30%:reject,10%:hang,5%:blackhole", "--direction", "both",
                "--dry-run")
            #expect(r.status == 0 && r.stdout.contains("set chosen6_3 {"), "\(r.stdout) \(r.stderr)")
            try ns.expectBaseline()
            let script = try #require(
                r.stdout.components(separatedBy: "<<'EOF'\n").last?.components(separatedBy: "\nEOF").first)
            let check = try run("/bin/sh", ["-c", "ip netns exec \(ns.name) nft -c -f - <<'EOF'\n\(script)\nEOF"])
            #expect(check.status == 0, "nft -c refused the script: \(check.stderr)\n\(script)")
        }
    }
}
