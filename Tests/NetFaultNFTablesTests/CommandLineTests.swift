import Foundation
import NetFaultCore
import TestSupport
import Testing

/// The built binary's command line: a subcommand is parsed on its own when its arguments are
/// well formed (a fast path), and by the whole command tree otherwise; both must read the same.
@Suite(.enabled(if: NFT.enabled, NFT.reason))
struct CommandLineTests {
    @Test("help, version and mistakes in a subcommand's arguments read as `netfault SUBCOMMAND`, as before")
    func subcommandMessages() throws {
        for argv in [["apply", "--help"], ["revert", "-h"], ["help", "status"]] {
            let r = try run(netfaultPath, argv)
            #expect(r.status == 0 && r.stdout.contains("USAGE: netfault \(argv.last == "status" ? "status" : argv[0])"),
                "\(argv): \(r.stdout.prefix(300))")
        }
        let version = try run(netfaultPath, ["status", "--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("0."), "\(version.stdout)")
        let bad = try run(netfaultPath, ["revert", "nope"])
        #expect(bad.status == 64 && bad.stderr.contains("Usage: netfault revert"), "\(bad.status): \(bad.stderr)")
        let unknown = try run(netfaultPath, ["apply", "redis", "--bogus"])
        #expect(unknown.status == 64 && unknown.stderr.contains("Unknown option '--bogus'"), "\(unknown.stderr)")
    }
}

extension CommandLineTests {
    /// netfault alone in a directory, as a partial install leaves it: no netfault-serve or
    /// netfault-matrix beside it.
    func runAlone(_ args: [String]) throws -> Run {
        let dir = "/var/tmp/netfault-alone-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try copyProgram(netfaultPath, to: dir + "/netfault")
        return try run(dir + "/netfault", args)
    }

    @Test("`netfault serve` runs netfault-serve beside it, whole command line included; without it, 69 and why")
    func serveRunsItsOwnProgram() throws {
        let help = try run(netfaultPath, ["serve", "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: netfault serve"), "\(help.stdout.prefix(300))")
        let bad = try run(netfaultPath, ["serve", "--listen", "nope"])
        #expect(bad.status == 64 && bad.stderr.contains("--listen 'nope' is not HOST:PORT"), "\(bad.stderr)")
        let alone = try runAlone(["serve"])
        #expect(alone.status == 69 && alone.stderr.contains("netfault-serve"), "\(alone.status): \(alone.stderr)")
    }

    @Test("netfault matrix runs netfault-matrix: its help, its errors, and 69 when it is missing")
    func matrixRunsItsOwnProgram() throws {
        let help = try run(netfaultPath, ["matrix", "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: netfault matrix"), "\(help.stdout.prefix(300))")
        let bad = try run(netfaultPath, ["matrix", "/nonexistent/matrix.yaml"])
        #expect(bad.status == 64 && bad.stderr.contains("cannot read the scenario file"), "\(bad.stderr)")
        let alone = try runAlone(["matrix", "x.yaml"])
        #expect(alone.status == 69 && alone.stderr.contains("netfault-matrix"), "\(alone.status): \(alone.stderr)")
    }

    @Test("netfault, netfault serve and netfault matrix print one version, NetFaultVersion.current")
    func oneVersion() throws {
        for argv in [["--version"], ["serve", "--version"], ["matrix", "--version"]] {
            let r = try run(netfaultPath, argv)
            #expect(r.status == 0 && r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == NetFaultVersion.current,
                "\(argv): \(r.status) \(r.stdout) \(r.stderr)")
        }
    }
}
