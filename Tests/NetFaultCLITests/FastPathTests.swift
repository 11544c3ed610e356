import ArgumentParser
import Testing
@testable import netfault

/// `main` parses a subcommand's arguments with the subcommand alone, which names netfault as its
/// program: a request for a completion script must fail that parse so the full parser answers it.
struct FastPathTests {
    static let subcommands = NetFault.fastPathNames.compactMap(NetFault.fastPath)

    @Test("every subcommand main parses alone names netfault as its program")
    func named() {
        #expect(Self.subcommands.count == NetFault.fastPathNames.count)
        for type in Self.subcommands {
            #expect(type.configuration._superCommandName == NetFault.superCommandName, "\(type)")
        }
    }

    @Test("a completion script request fails the subcommand's own parse, so it reaches the full parser")
    func completionRequestFallsBack() {
        for args in [["--generate-completion-script", "bash"], ["--generate-completion-script"]] {
            #expect(throws: (any Error).self, "\(args)") { try Apply.parseAsRoot(["redis", "--reject"] + args) }
            #expect(throws: (any Error).self, "\(args)") { try Revert.parseAsRoot(["--all"] + args) }
        }
        do {
            _ = try NetFault.parseAsRoot(["apply", "--generate-completion-script", "bash"])
            Issue.record("the full parser did not answer with a script")
        } catch {
            #expect(NetFault.fullMessage(for: error).hasPrefix("#!/bin/bash"), "the full parser answers with the script")
        }
    }

    @Test("an error from the subcommand's own parse says `netfault apply`, as the full parser's does")
    func usageNamesNetfault() {
        do {
            _ = try Apply.parseAsRoot(["redis", "--no-such-option"])
            Issue.record("an unknown option was accepted")
        } catch {
            #expect(Apply.fullMessage(for: error).contains("Usage: netfault apply"), "\(Apply.fullMessage(for: error))")
        }
    }
}
