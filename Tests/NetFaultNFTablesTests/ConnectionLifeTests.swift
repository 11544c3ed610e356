import Foundation
import TestSupport
import Testing

/// --reset-after, --hang-after and --limit-data on this host's kernel, in a fresh namespace
/// against a real redis-server on loopback. Each connection's timer and budget live in the
/// lease's table, keyed by its addresses and ports. One long-lived probe process times the
/// connections (a process per sample would measure its own start-up).
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ConnectionLifeTests {
    /// Opens `count` connections `gap` seconds apart, each sending PING every 100 ms for
    /// `seconds`; prints one line per connection: `N OUTCOME SECONDS PONGS`, where OUTCOME is
    /// reset (ECONNRESET), hang (no answer within `wait` s), alive, and SECONDS is the time from
    /// just before its connect() to the outcome.
    static let pinger = """
        import socket, sys, threading, time
        host, count, gap, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
        wait = float(sys.argv[5])
        lines = {}
        def run(i):
            time.sleep(i * gap)
            start = time.monotonic()
            pongs = 0
            try:
                s = socket.create_connection((host, 6379), timeout=10)
                s.settimeout(wait)
                while time.monotonic() - start < seconds:
                    s.sendall(b"PING\\r\\n")
                    if not s.recv(64).startswith(b"+PONG"):
                        break
                    pongs += 1
                    time.sleep(0.1)
                outcome = "alive"
            except ConnectionResetError:
                outcome = "reset"
            except socket.timeout:
                outcome = "hang"
            lines[i] = "%d %s %.3f %d" % (i, outcome, time.monotonic() - start, pongs)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for t in threads: t.start()
        for t in threads: t.join()
        print("\\n".join(lines[i] for i in range(count)))
        """

    struct Outcome { let outcome: String; let seconds: Double; let pongs: Int }

    func ping(_ ns: Namespace, _ host: String, count: Int, gap: Double, seconds: Double, wait: Double = 1) throws
        -> [Outcome]
    {
        let r = try ns.exec("python3", "-c", Self.pinger, host, "\(count)", "\(gap)", "\(seconds)", "\(wait)")
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.split(separator: "\n").map { line in
            let f = line.split(separator: " ")
            return Outcome(outcome: String(f[1]), seconds: Double(f[2]) ?? -1, pongs: Int(f[3]) ?? -1)
        }
    }

    /// Two connections opened 1 s apart: each is reset 2.0 to 2.5 s after its own start (a timer
    /// started when the lease began would reset them at the same moment, the second 1 s early).
    @Test("--reset-after 2s resets each connection 2.0-2.5 s after its own start, IPv4 and IPv6",
          arguments: ["127.0.0.1", "::1"])
    func resetAfterOwnClock(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--reset-after", "2s", "--for", "5m")
            let outcomes = try ping(ns, host, count: 2, gap: 1, seconds: 6)
            trace("--reset-after 2s on \(host): \(outcomes.map { "\($0.outcome) \($0.seconds)" })")
            #expect(outcomes.count == 2)
            for o in outcomes {
                #expect(o.outcome == "reset", "\(outcomes)")
                #expect(o.seconds >= 2.0 && o.seconds <= 2.5, "\(outcomes)")
                #expect(o.pongs >= 10, "it answered until its time: \(outcomes)")
            }
            #expect(try ns.revert(lease.id).status == 0)
            #expect(try ping(ns, host, count: 1, gap: 0, seconds: 3).first?.outcome == "alive", "after revert")
        }
    }

    /// Toxiproxy's timeout with a time: no data from the start, then each connection reset on its
    /// own clock. A hung client sends only TCP's resends (0.2, 0.6, 1.4, 3 s... after its PING),
    /// so the reset comes at the first of them past 2 s: 3 s on an idle machine, later under load.
    @Test("--hang --reset-after 2s: no PONG, each connection reset 2 s or more after its own start, IPv4 and IPv6",
          arguments: ["127.0.0.1", "::1"])
    func hangThenReset(_ host: String) throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--hang", "--reset-after", "2s", "--for", "5m")
            let outcomes = try ping(ns, host, count: 2, gap: 1, seconds: 12, wait: 10)
            trace("--hang --reset-after 2s on \(host): \(outcomes.map { "\($0.outcome) \($0.seconds)" })")
            #expect(outcomes.count == 2)
            for o in outcomes {
                #expect(o.outcome == "reset" && o.pongs == 0, "\(outcomes)")
                #expect(o.seconds >= 2.0 && o.seconds < 7, "\(outcomes)")
            }
            #expect(try ns.revert(lease.id).status == 0)
            #expect(try ping(ns, host, count: 1, gap: 0, seconds: 1).first?.outcome == "alive", "after revert")
        }
    }

    @Test("--hang-after 1s --direction both: each connection goes silent 1 s after its start")
    func hangAfter() throws {
        try withServers(mariadb: false) { ns in
            let lease = try ns.apply("redis", "--hang-after", "1s", "--direction", "both", "--for", "5m")
            let outcomes = try ping(ns, "127.0.0.1", count: 2, gap: 0.5, seconds: 4)
            trace("--hang-after 1s: \(outcomes.map { "\($0.outcome) \($0.seconds)" })")
            for o in outcomes {
                #expect(o.outcome == "hang", "\(outcomes)")
                // The last PONG came before 1 s, the read that timed out waited 1 s for it.
                #expect(o.seconds >= 2.0 && o.pongs >= 5, "\(outcomes)")
            }
            #expect(try ns.revert(lease.id).status == 0)
        }
    }
}
