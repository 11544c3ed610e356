import Foundation
import TestSupport
import Testing

/// --connections with a netem fault, on a kernel with netem and nf_tables (Debian's own in a VM,
/// scripts/vm-test combined): the lease's table draws each new connection at its SYN and steers
/// only the drawn connections' packets into the netem band, both directions by the same lot.
/// Timers under the VM's emulation are coarse, so the bounds are wide: netem never delivers
/// early, and an untouched round trip on loopback takes milliseconds.
@Suite(.serialized, .enabled(if: NFT.netem, NFT.netemReason))
struct NetemShareKernelTests {
    /// One process for the whole sample: 40 connections in turn, IPv4 and IPv6 alternately, each
    /// connected, then two PINGs on it; prints one line per connection: family and the two
    /// round trips in ms.
    static let probe = """
        import socket, sys
        from time import monotonic
        for i in range(40):
            host = "127.0.0.1" if i % 2 == 0 else "::1"
            s = socket.create_connection((host, 6379), timeout=30); t = []
            for _ in range(2):
                a = monotonic(); s.sendall(b"PING\\r\\n"); d = b""
                while not d.endswith(b"\\r\\n"):
                    c = s.recv(64)
                    if not c: break
                    d += c
                t.append((monotonic() - a) * 1000 if d.startswith(b"+PONG") else -1)
            s.close()
            print(host, " ".join("%.0f" % x for x in t), flush=True)
        """

    /// With --direction both a drawn connection's request and response each wait 200 ms: its
    /// round trip is at least 350 ms only when both directions took its lot (one alone: 200 ms).
    @Test(
        """
        --delay 200ms --connections 50% --direction both: 8 to 32 of 40 connections slowed, each for its life; \
        the watchdog SIGKILLed, its table goes at once and the next command leaves tc as before
        """)
    func delaysAShare() throws {
        try withServers(mariadb: false) { ns in
            let tcBefore = try ns.tcState()
            let lease = try ns.apply("redis", "--delay", "200ms", "--connections", "50%", "--direction", "both")
            let out = try ns.exec("/usr/bin/python3", "-c", Self.probe)
            let rows = out.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            trace("--delay 200ms --connections 50%: \(rows.map { $0.joined(separator: " ") })")
            #expect(rows.count == 40 && rows.allSatisfy { $0.count == 3 }, "\(out.stdout) \(out.stderr)")
            var slowed: [String: Int] = [:]
            for row in rows where row.count == 3 {
                let ms = row.dropFirst().compactMap(Double.init)
                let lot = ms.map { $0 >= 350 ? "slowed" : $0 >= 0 && $0 < 150 ? "untouched" : "neither" }
                #expect(Set(lot).count == 1 && lot.first != "neither", "one connection, one lot: \(row)")
                if lot.allSatisfy({ $0 == "slowed" }) { slowed[row[0], default: 0] += 1 }
            }
            let total = slowed.values.reduce(0, +)
            #expect((8...32).contains(total), "\(total) of 40 slowed")
            #expect(slowed["127.0.0.1", default: 0] > 0 && slowed["::1", default: 0] > 0, "both families: \(slowed)")
            let entry = try #require(try ns.statusLeases().first { $0["lease"] as? String == lease.id })
            #expect(entry["connections_drawn_in"] as? Int == total, "status counts each drawn one once: \(entry)")
            #expect((entry["requested_netfilter"] as? [String: String])?["connections"] == "50%", "\(entry)")
            // The watchdog SIGKILLed: its table (the draws' sets with it) goes at once; the band,
            // which nothing reaches any more, at the next command's sweep.
            let pid = try #require(lease.output["watchdog_pid"] as? Int, "watchdog_pid in \(lease.output)")
            #expect(kill(pid_t(pid), SIGKILL) == 0)
            #expect(try ns.awaitTableGone("netfault-\(lease.id)", seconds: 2), "the table outlived its watchdog by 2s")
            #expect(try ns.netfault("status").status == 0)
            ns.forget(lease.id)
            #expect(try ns.tcState() == tcBefore, "the sweep left traffic-control objects")
        }
    }

    /// The watchdog stopped: the kernel's deadline (the port set's elements) ends the band's
    /// steering; no drawn connection is delayed after it, and the next command leaves neither
    /// ruleset nor traffic control changed. (A SIGKILLed watchdog: delaysAShare's end.)
    @Test("--delay 500ms --connections 50%: the watchdog SIGSTOPped, it ends by the deadline, nothing left")
    func kernelEnds() throws {
        try CombinedFaultTests().expectKernelEnds(
            ["--delay", "500ms", "--connections", "50%"], delayed: true, tcAsBefore: true
        ) { pid, _ in
            #expect(kill(pid, SIGSTOP) == 0)
        }
    }
}
