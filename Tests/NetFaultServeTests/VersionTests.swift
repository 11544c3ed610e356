import NetFaultCore
import Testing
@testable import NetFaultServe

@Suite struct VersionTests {
    @Test("/version's netfault part is the version `netfault --version` prints")
    func apiVersionIsNetfaults() {
        #expect(ApiRouter.version == "2.12.0+netfault.\(NetFaultVersion.current)")
    }
}
