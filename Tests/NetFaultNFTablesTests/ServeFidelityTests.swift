import Foundation
import TestSupport
import Testing

/// What published Toxiproxy clients found different from Toxiproxy, driven through
/// toxiproxy-python (scripts/serve-client fidelity) against both backends.
@Suite(.serialized, .enabled(if: NFT.enabled, NFT.reason))
struct ServeFidelityTests {
    @Test(
        "/version, the request id, noop, populate naming a listen address by host, a taken port: as Toxiproxy",
        arguments: ["kernel", "proxy"])
    func asToxiproxy(backend: String) throws {
        try withServers(redis: [6379], mariadb: false) { ns in
            ns.ownJournal()
            let daemon = try ServeDaemon(ns, ["--backend", backend], journal: ns.journal)
            // redis-server holds 127.0.0.1:6379, so a proxy may not listen there.
            let steps = try ns.serveClient(daemon, "fidelity", "6379")

            let version = try #require(steps["version"]?.fields)
            let body = version["body"] as? [String: String] ?? [:]
            #expect(body == ["version": "2.12.0", "netfault": try netfaultVersion()], "\(version)")
            #expect((version["text"] as? String)?.contains(#""version":"2.12.0""#) == true, "\(version)")
            let id = version["request_id"] as? String ?? ""
            #expect(id.count == 20 && id.allSatisfy { $0.isNumber || ("a"..."v").contains($0) }, "\(version)")

            #expect(steps["noop"]?.fields["toxics"] as? [String: String] == ["nothing": "noop"], "\(steps)")
            #expect(steps["noop/proxy"]?.outcome == "ok", "\(steps["noop/proxy"] as Any)")

            let populate = try #require(steps["populate"]?.fields)
            #expect(populate["status"] as? Int == 201, "\(populate)")
            #expect(populate["listen"] as? String == "127.0.0.1:26379", "\(populate)")
            #expect(populate["toxics"] as? [String] == ["nothing"], "populate replaced the proxy: \(populate)")

            let taken = try #require(steps["taken"]?.fields)
            #expect(taken["status"] as? Int == 500, "\(taken)")
            #expect(
                (taken["text"] as? String)?.contains("listen tcp 127.0.0.1:6379: bind: address already in use") == true,
                "\(taken)")
            #expect(daemon.terminate().status == 0)
            try ns.expectBaseline()
        }
    }

    /// What `netfault --version` prints.
    func netfaultVersion() throws -> String {
        let r = try run(netfaultPath, ["--version"])
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
