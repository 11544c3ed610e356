import Foundation
import NetFaultCore
import Testing
@testable import NetFaultServe

@Suite struct RequestTests {
    func json(_ s: String) throws -> JSONValue { try JSONValue.parse(Array(s.utf8)) }

    @Test func toxicDefaultsAreToxiproxys() throws {
        let t = try Toxic.parse(json(#"{"type":"latency","attributes":{"latency":100}}"#))
        #expect(t.name == "latency_downstream")
        #expect(t.stream == .downstream)
        #expect(t.toxicity == 1)
        #expect(t.attributes == ["latency": 100, "jitter": 0])
        #expect(t.kind == .latency(LatencyToxic(latency: .milliseconds(100))))
    }

    @Test func badToxicsAreRefusedWithTheField() throws {
        for (body, words) in [
            (#"{"type":"nope"}"#, "invalid toxic type"),
            (#"{"type":"latency","stream":"sideways"}"#, "stream was invalid"),
            (#"{"type":"latency","attributes":{"latency":-5}}"#, "latency is negative"),
            (#"{"type":"latency","attributes":{"latency":1.5}}"#, "whole number"),
            (#"{"type":"latency","attributes":{"latency":"5"}}"#, "whole number"),
            (#"{"type":"latency","toxicity":2}"#, "outside 0...1"),
            (#"{"type":"bandwidth","attributes":{"rate":1e12}}"#, "above its maximum"),
            (#"[1]"#, "must be a JSON object"),
            (#"{"type":"latency""#, "not valid JSON"),
        ] {
            #expect {
                _ = try Toxic.parse(try json(body))
            } throws: { e in
                guard let e = e as? ApiError else { return false }
                return e.status == 400 && e.error.contains(words)
            }
        }
    }

    @Test func toxicUpdateKeepsWhatItDoesNotName() throws {
        let t = try Toxic.parse(json(#"{"name":"l","type":"latency","attributes":{"latency":100,"jitter":5}}"#))
        let u = try t.updated(by: json(#"{"attributes":{"jitter":7}}"#))
        #expect(u.attributes == ["latency": 100, "jitter": 7])
        #expect(u.name == "l" && u.toxicity == 1)
    }

    @Test func proxySettings() throws {
        let p = try ProxySettings.parse(json(#"{"name":"redis","upstream":"127.0.0.1:6379"}"#))
        #expect(p.listen == "127.0.0.1:0" && p.enabled)
        #expect(throws: ApiError.missingField.joined("upstream")) {
            _ = try ProxySettings.parse(try json(#"{"name":"redis"}"#))
        }
        #expect(throws: ApiError.missingField.joined("name at proxy 2")) {
            _ = try ProxySettings.parse(try json(#"{"upstream":"x:1"}"#), index: 2)
        }
        let off = try p.updated(by: json(#"{"enabled":false}"#))
        #expect(!off.enabled && off.upstream == p.upstream)
        #expect(HostPort.parse("[::1]:3306") == HostPort(host: "::1", port: 3306))
        #expect(HostPort.parse("::1:3306") == nil)
        #expect(HostPort.parse("localhost:99999") == nil)
    }
}

@Suite struct ServeErrorTests {
    @Test("serve's start errors exit as every netfault error does: 64 a bad --config, 73 a path it will not take")
    func exitStatuses() throws {
        #expect(ServeError.config("p.json", ApiError("missing field", status: 400)).exitStatus == 64)
        #expect(ServeError.config("p.json", ApiError("proxy already exists", status: 409)).exitStatus == 73)
        #expect(ServeError.config("p.json", ApiError("listen tcp: address already in use", status: 500)).exitStatus == 71)
        let path = "/tmp/netfault-serve-error-\(getpid())"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        defer { unlink(path) }
        #expect {
            try HTTPServer.removeStaleSocket(path)
        } throws: { error in
            (error as? ServeError)?.exitStatus == 73 && "\(error)".contains("is not a socket")
        }
    }
}
