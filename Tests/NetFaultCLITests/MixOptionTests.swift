import ArgumentParser
import NetFaultCore
import Testing
@testable import netfault
import NetFaultCommand

/// `--connections 30%:reject,10%:hang` on apply and run: a mix, refused with exit 64 and a
/// message before the kernel when it is wrong.
struct MixOptionTests {
    typealias Fuzz = ArgumentFuzzTests

    @Test("apply and run take a mix; its faults come from the mix alone")
    func parses() throws {
        let apply = try #require(
            try NetFault.parseAsRoot(["apply", "redis", "--connections", "30%:reject,10%:hang"]) as? Apply)
        let filter = try apply.request().filter
        #expect(filter.mix?.description == "30%:reject,10%:hang" && filter.action == nil && filter.connections == nil)
        let run = try #require(
            try NetFault.parseAsRoot(["run", "redis", "--connections", "50%:blackhole", "--", "true"]) as? RunCommand)
        #expect(try run.lease.request(duration: "1m").filter.mix?.groups.count == 1)
    }

    @Test("a mix takes connection timers, budgets and --slice, or a scope")
    func combines() throws {
        for extra in [["--reset-after", "2s"], ["--limit-data", "4096"], ["--slice", "100"], ["--uid", "65534"]] {
            let apply = try #require(
                try NetFault.parseAsRoot(["apply", "redis", "--connections", "30%:reject,10%:hang"] + extra) as? Apply)
            let filter = try apply.request().filter
            #expect(filter.mix?.groups.count == 2 && (filter.life != nil || filter.scope != nil), "\(extra)")
        }
    }

    @Test(
        "a bad mix is refused with exit 64 and a message that names the option and what is right",
        arguments: [
            (["--connections", "30%:reject", "--reject"], "names each group's fault; leave out --reject"),
            (["--connections", "30%:hang", "--loss-nft", "5%"], "leave out --loss-nft"),
            (["--connections", "30%:reject,80%:hang"], "the shares add up to 110%"),
            (["--connections", "30%:drop"], "is not SHARE:FAULT; give e.g. 30%:reject,10%:hang"),
            (["--connections", "30%:hang", "--delay", "10ms"], "takes only connection faults"),
            (["--connections", "30%:reject", "--direction", "from-server"], "--reject refuses new connections"),
            (["--connections", "30%:reject", "--uid", "65534", "--reset-after", "2s"], "with --uid, --cgroup or --scope"),
            (["--connections", "30%:hang", "--uid", "0", "--slice", "100"], "give them in a lease of their own")
        ])
    func refused(args: [String], message: String) {
        let (kind, status, text) = Fuzz.outcome(["apply", "redis"] + args)
        #expect(kind == .usageError && status == 64, "\(args): \(kind) \(status) \(text)")
        #expect(text.contains(message), "\(text)")
    }

    @Test("revert and run count each group of a mix after the total, as status does")
    func drawnPerGroup() {
        let text = drawnText((in: 3, out: 7), groups: [("30%:reject", 2), ("10%:hang", 1)])
        #expect(text == "3 new connections drawn into the faults (30%:reject 2, 10%:hang 1), 7 left alone")
        #expect(drawnText((in: 1, out: 0)) == "1 new connection drawn into the faults, 0 left alone")
        #expect(drawnGroupsJSON([("30%:reject", 2), ("10%:hang", 1)]) == ["30%:reject": 2, "10%:hang": 1])
    }

    @Test("--help says how to write a mix")
    func help() {
        let help = Apply.helpMessage(columns: 1000)
        #expect(help.contains("30%:reject,10%:hang"), "\(help)")
    }
}
