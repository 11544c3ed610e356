import Foundation
import TestSupport
import Testing

/// `netfault run`: faults for the life of a command, on a real kernel (user-mode Linux).
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct RunKernelTests {
    init() throws { try cleanUp() }

    @Test("the command sees the fault, its exit status comes back, and the fault is gone after")
    func statusAndRevert() throws {
        let before = try tcSnapshot()
        let r = try netfault(
            "run", "redis", "--delay", "20ms", "--", "/bin/sh", "-c",
            "tc qdisc show dev lo | grep -q 'delay 20ms' && exit 7; exit 1")
        #expect(r.status == 7, "\(r.stderr)")
        #expect(try tcSnapshot() == before)
        #expect(try netfault("status").stdout.contains("no active leases"))
    }

    @Test("a command ended by a signal gives 128+N")
    func signalStatus() throws {
        let r = try netfault("run", "redis", "--delay", "5ms", "--", "/bin/sh", "-c", "kill -TERM $$")
        #expect(r.status == 128 + SIGTERM, "\(r.stderr)")
    }

    @Test("a command that cannot start gives 127 and nothing is left")
    func missingCommand() throws {
        let before = try tcSnapshot()
        let r = try netfault("run", "redis", "--delay", "5ms", "--", "/nonexistent/command")
        #expect(r.status == 127, "\(r.stderr)")
        #expect(try tcSnapshot() == before)
    }

    @Test("under sudo the command runs as the invoking user, with --as-root as root")
    func sudoUser() throws {
        let sudo = ["/usr/bin/env", "SUDO_UID=65534", "SUDO_GID=65534", "SUDO_USER=nobody"]
        let asUser = try run(
            netfaultPath, ["run", "redis", "--delay", "5ms", "--", "/bin/sh", "-c", "id -u; id -g; echo $HOME"],
            prefix: sudo)
        #expect(asUser.status == 0, "\(asUser.stderr)")
        #expect(asUser.stdout.split(separator: "\n").prefix(2) == ["65534", "65534"], "\(asUser.stdout)")
        #expect(asUser.stdout.contains("/nonexistent"), "HOME is the user's: \(asUser.stdout)")
        let asRoot = try run(
            netfaultPath, ["run", "redis", "--delay", "5ms", "--as-root", "--", "id", "-u"], prefix: sudo)
        #expect(
            asRoot.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(asRoot.stdout) \(asRoot.stderr)")
    }

    @Test("SIGTERM to netfault reaches the command; the fault is reverted and the status is 143")
    func forwardsSignals() throws {
        let before = try tcSnapshot()
        let child = try spawn(
            [netfaultPath, "run", "redis", "--delay", "5ms", "--", "sleep", "30"], captureOutput: false)
        #expect(waitForFault(before), "the fault was never installed")
        kill(child.pid, SIGTERM)
        #expect(waitStatus(child.pid) == 143)
        #expect(try tcSnapshot() == before)
    }

    @Test("netfault run killed with SIGKILL: its watchdog reverts within about a second")
    func controllerKilled() throws {
        let before = try tcSnapshot()
        // The command records its pid, so that the orphan is ended by pid, not by name.
        let pidFile = "/var/tmp/netfault-run-sleep-\(getpid()).pid"
        let child = try spawn(
            [
                netfaultPath, "run", "redis", "--delay", "5ms", "--", "/bin/sh", "-c",
                "echo $$ > \(pidFile); exec sleep 30"
            ], captureOutput: false)
        defer { unlink(pidFile) }
        #expect(waitForFault(before), "the fault was never installed")
        let leases = "/run/netfault/leases"
        let journaled = {
            (try? FileManager.default.contentsOfDirectory(atPath: leases))?.contains { $0.hasSuffix(".json") } ?? false
        }
        #expect(journaled())
        let killedAt = monotonicMs()
        kill(child.pid, SIGKILL)
        _ = waitStatus(child.pid)
        // The watchdog removes the journal entry once the kernel objects are gone; polling a
        // directory is cheap enough to time that, unlike running tc.
        while journaled() && monotonicMs() - killedAt < 5000 { usleep(20_000) }
        let took = monotonicMs() - killedAt
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let sleeper = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            kill(sleeper, SIGKILL)
        }
        #expect(try tcSnapshot() == before)
        #expect(took < 1500, "reverted after \(took) ms")
    }

    @Test("--after starts the command first and puts the faults in later")
    func after() throws {
        let before = try tcSnapshot()
        // Exit 0 only if the fault is absent at first and present 2s later.
        let script =
            """
            tc qdisc show dev lo | grep -q netem && exit 1; sleep 2; tc qdisc show dev lo | grep -q 'delay 20ms' || \
            exit 2; exit 0
            """
        let r = try netfault("run", "redis", "--delay", "20ms", "--after", "1s", "--", "/bin/sh", "-c", script)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try tcSnapshot() == before)
    }

    @Test("--every/--on flaps the faults in and out while the command runs")
    func flapping() throws {
        let before = try tcSnapshot()
        // Sample every 100ms for 7s; print 1 while the fault is in, 0 while it is out. Each on-period
        // is a lease whose watchdog must start first, which takes a good part of a second in
        // user-mode Linux: the periods are long enough to be seen in.
        let script =
            """
            i=0; while [ $i -lt 70 ]; do tc qdisc show dev lo | grep -q netem && echo 1 || echo 0; sleep 0.1; \
            i=$((i+1)); done
            """
        let r = try netfault(
            "run", "redis", "--delay", "5ms", "--every", "2s", "--on", "1s", "--", "/bin/sh", "-c", script)
        #expect(r.status == 0, "\(r.stderr)")
        let samples = r.stdout.split(separator: "\n")
        let on = samples.filter { $0 == "1" }.count
        // Transitions 0 -> 1: the fault went in more than once.
        let rises = zip(samples, samples.dropFirst()).filter { $0 == "0" && $1 == "1" }.count
        #expect(samples.count >= 50)
        #expect(rises >= 2, "the fault went in \(rises + (samples.first == "1" ? 1 : 0)) times: \(samples)")
        #expect(on > 0 && on < samples.count, "\(samples)")
        #expect(r.stderr.components(separatedBy: "reverted").count - 1 >= 3, "\(r.stderr)")
        #expect(try tcSnapshot() == before)
    }

    /// Waits up to 5s for tc state to change from `before` (the lease is in force).
    func waitForFault(_ before: String) -> Bool {
        for _ in 0..<50 {
            if let now = try? tcSnapshot(), now != before, now.contains("netem") { return true }
            usleep(100_000)
        }
        return false
    }
}

/// Several netfault commands at once: the journal's flock keeps them apart.
@Suite(.serialized, .enabled(if: Kernel.enabled, Kernel.reason))
struct ConcurrencyKernelTests {
    init() throws { try cleanUp() }

    @Test("eight applies at once each get their own band and lease; revert --all leaves lo as before")
    func concurrentApplies() throws {
        let before = try tcSnapshot()
        let ports = (7001...7008).map(String.init)
        let children = try ports.map { port in
            try spawn([netfaultPath, "apply", port, "--delay", "5ms", "--json"], captureOutput: true)
        }
        var ids: [String] = []
        for c in children {
            let r = collect(c)
            #expect(r.status == 0, "\(r.stderr)")
            if let id = try? leaseID(r) { ids.append(id) }
        }
        #expect(Set(ids).count == 8, "\(ids)")
        let (leases, bands) = try statusLeases()
        let log = (try? String(contentsOfFile: "/run/netfault/watchdog.log", encoding: .utf8)) ?? ""
        #expect(leases.count == 8 && Set(bands).count == 8, "\(leases)\n\(log)")
        let qdiscs = try run("tc", ["qdisc", "show", "dev", "lo"]).stdout
        #expect(qdiscs.components(separatedBy: "qdisc netem").count - 1 == 8, "\(qdiscs)")
        let r = try netfault("revert", "--all")
        #expect(r.status == 0)
        #expect(try tcSnapshot() == before)
    }
}
