import FoundationEssentials
import NetFaultCore
import Testing
@testable import NetFaultServe

@Suite struct VersionTests {
    @Test("/version: Toxiproxy's version as a plain semantic version, netfault's in a field of its own")
    func apiVersion() throws {
        let f = ApiRouterTests.Fixture()
        let r = f.router.handle(method: "GET", uri: "/version")
        let fields = try JSONDecoder().decode([String: String].self, from: Data(r.body))
        #expect(r.status == 200)
        #expect(fields == ["version": "2.12.0", "netfault": NetFaultVersion.current])
        let parts = try #require(fields["version"]).split(separator: ".")
        #expect(parts.count == 3 && parts.allSatisfy { UInt($0) != nil }, "not MAJOR.MINOR.PATCH: \(fields)")
    }
}
