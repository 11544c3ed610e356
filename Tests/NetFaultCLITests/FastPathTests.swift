import ArgumentParser
import Testing
@testable import netfault
import NetFaultLeases

/// `main` parses a subcommand's arguments with the subcommand alone, which names netfault as its
/// program: a request for a completion script must fail that parse so the full parser answers it.
struct FastPathTests {
    @Test("every subcommand main parses alone names netfault as its program")
    func named() {
        let names = NetFault.configuration.subcommands.compactMap { $0.configuration.commandName }
        let alone = names.filter { NetFault.fastPath($0) != nil }
        #expect(alone == ["apply", "run", "status", "revert", "doctor", WatchdogProcess.command])
        for name in alone {
            let type = NetFault.fastPath(name)!
            #expect(type.configuration.commandName == name, "\(name)")
            #expect(type.configuration._superCommandName == NetFault.superCommandName, "\(name)")
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
