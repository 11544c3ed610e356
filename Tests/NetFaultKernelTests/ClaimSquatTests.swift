import Foundation
import Testing
import TestSupport
@testable import NetFaultKernel

/// Claims against a squatter: an unprivileged process (uid 65534) that binds the names first,
/// listening or not, on this host's kernel. It needs root to start the squatter as another user.
@Suite(.enabled(if: geteuid() == 0, "needs root: the squatter runs as uid 65534 through setpriv"))
struct ClaimSquatTests {
    func unique(_ what: String) -> String { "netfault-test/\(getpid())/\(what)/\(UInt32.random(in: 0...UInt32.max))" }

    @Test("names bound by nobody, bare or listening, fixed or under the prefix, neither block a claim nor hold it")
    func squattedNamesCountForNothing() throws {
        let name = unique("band")
        let squatter = try Squatter(
            bound: [name, name + "/0"], listening: [name + "/00112233445566778899aabbccddeeff"])
        defer { squatter.release() }
        #expect(try Claims.holders([name], in: nil).isEmpty)
        #expect(try Claims.held([name], in: nil).isEmpty)
        let claims = try Claims.take([name], in: nil)
        try withExtendedLifetime(claims) { () throws in
            #expect(try Claims.holders([name], in: nil) == [name: getpid()])
            #expect(throws: ClaimTaken.self) { try Claims.take([name], in: nil) }
        }
    }

    @Test("a squatter on the exact address a dead holder had does not keep the claim alive")
    func deadHolderAddressTaken() throws {
        let name = unique("orphan")
        var bound: String?
        do {
            // Kept alive while the address is read (an optimized build may end a value's life
            // at its last use), then the holder dies with this scope; /proc/net/unix showed its
            // address to everyone.
            let claims = try Claims.take([name], in: nil)
            bound = try withExtendedLifetime(claims) { try Squatter.boundNames(prefix: name).first }
        }
        let address = try #require(bound)
        let squatter = try Squatter(listening: Array(Set([address, name])))
        defer { squatter.release() }
        #expect(try Claims.holders([name], in: nil).isEmpty)
        #expect(try Claims.take([name], in: nil).count == 1)
    }

    @Test("two takers racing for one name never both win")
    func race() throws {
        for _ in 0..<50 {
            let name = unique("race")
            let results = Locked<[Bool]>([])
            let threads = (0..<2).map { _ in
                Thread {
                    // Each holds what it won until both have tried: winning one after the
                    // other has released is no double win.
                    let claims = try? Claims.take([name], in: nil)
                    results.update { $0.append(claims != nil) }
                    while results.value.count < 2 { usleep(1_000) }
                    withExtendedLifetime(claims) {}
                }
            }
            threads.forEach { $0.start() }
            while results.value.count < 2 { usleep(1_000) }
            #expect(results.value.filter { $0 }.count <= 1)
        }
    }
}
