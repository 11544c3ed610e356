import Foundation
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
