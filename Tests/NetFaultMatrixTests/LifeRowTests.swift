import Foundation
import NetFaultCore
import Testing
@testable import NetFaultMatrix
@testable import NetFaultServe

/// Matrix rows for issue 26's faults: --limit-data and --slow-close have proxy toxics,
/// --connect-delay has none, and a kernel with netem but no nf_tables says it cannot run it.
@Suite struct LifeRowTests {
    func request(_ words: String) throws -> FaultRequest { try ShareRowTests().request(words) }

    @Test("--limit-data 64KiB is a downstream limit_data of 65536 bytes; --slow-close 1s a slow_close on its stream")
    func proxyToxics() throws {
        let limit = FaultWords.proxyPlan(try request("--limit-data 64KiB"))
        #expect(limit.unsupported == nil && limit.toxics.map(\.stream) == [.downstream])
        #expect(limit.toxics.first?.kind == .limitData(LimitDataToxic(bytes: 65536)))
        let close = FaultWords.proxyPlan(try request("--slow-close 1s --direction from-server"))
        #expect(close.toxics.map(\.kind) == [.slowClose(SlowCloseToxic(delay: .seconds(1)))])
        #expect(close.toxics.map(\.stream) == [.downstream])
    }

    @Test("--connect-delay: no proxy equivalent, and unsupported on a kernel without nf_tables, named as such")
    func connectDelay() throws {
        let r = try request("--connect-delay 300ms")
        #expect(FaultWords.proxyPlan(r).unsupported?.contains("--connect-delay") == true)
        let why = FaultWords.phaseSkip(r, hasNFTables: false, kernel: "6.1.0-uml")
        #expect(why?.hasPrefix("unsupported here: --connect-delay") == true)
        #expect(FaultWords.phaseSkip(r, hasNFTables: true, kernel: "6.1.0") == nil)
        #expect(FaultWords.phaseSkip(try request("--delay 10ms"), hasNFTables: false, kernel: "6.1.0-uml") == nil)
    }
}
