import Glibc
import NIOPosix
import NetFaultCore
import Testing
@testable import NetFaultServe

/// The API as a client sees it, through ApiRouter.handle, with the proxy backend (the kernel
/// backend's requests are parsed by the same code; ServeAccessTests sends them to a real daemon).
@Suite struct ApiRouterTests {
    final class Fixture {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry: ProxyRegistry
        let router: ApiRouter
        init(listenPolicy: ListenPolicy = .loopback, token: String? = nil) {
            registry = ProxyRegistry(backend: ProxyBackend(), group: group, listenPolicy: listenPolicy)
            router = ApiRouter(registry: registry, token: token)
        }
        func call(_ method: String, _ uri: String, _ body: String? = nil, headers: [(String, String)] = [])
            -> (status: Int, body: String)
        {
            let r = router.handle(method: method, uri: uri, headers: headers, body: body.map { Array($0.utf8) } ?? [])
            return (r.status, String(decoding: r.body, as: UTF8.self))
        }
        deinit {
            registry.shutdown()
            try? group.syncShutdownGracefully()
        }
    }

    @Test("huge and hugely negative attributes (1e308, -1e300) get 400 on POST and PATCH; the daemon lives on")
    func hugeNumbersDoNotTrap() {
        let f = Fixture()
        #expect(f.call("POST", "/proxies", #"{"name":"p","upstream":"127.0.0.1:9"}"#).status == 201)
        #expect(f.call("POST", "/proxies/p/toxics", #"{"name":"l","type":"latency"}"#).status == 200)
        for value in ["1e308", "-1e300", "9.3e18", "-9.3e18", "1e19"] {
            for type in ["latency", "bandwidth", "timeout", "slicer", "limit_data"] {
                let name = type == "bandwidth" ? "rate" : type == "limit_data" ? "bytes" : type == "slicer" ? "delay" : type
                let body = #"{"type":"\#(type)","attributes":{"\#(name)":\#(value)}}"#
                let posted = f.call("POST", "/proxies/p/toxics", body)
                #expect(posted.status == 400 && posted.body.contains(name), "POST \(body): \(posted)")
            }
            let patched = f.call("PATCH", "/proxies/p/toxics/l", #"{"attributes":{"latency":\#(value)}}"#)
            #expect(patched.status == 400, "PATCH \(value): \(patched)")
            #expect(patched.body.contains(value.hasPrefix("-") ? "negative" : "above its maximum"), "\(patched)")
        }
        #expect(f.call("GET", "/proxies/p/toxics/l").body.contains(#""latency":0"#))
        #expect(f.call("GET", "/version").status == 200)
    }

    @Test("the registry's typed calls (the matrix's): a toxic made in code meets a request's ranges; setEnabled")
    func typedCalls() throws {
        let f = Fixture()
        let r = f.registry
        _ = try r.create(ProxySettings(name: "p", listen: "127.0.0.1:0", upstream: "127.0.0.1:9"))
        let over = Toxic(.latency(LatencyToxic(latency: .seconds(3_601))), stream: .upstream)
        let message = "attribute latency 3601000 is above its maximum 3600000"
        #expect(throws: ServeFailure.request(ApiError.badRequestBody.joined(message))) {
            try r.addToxic("p", over)
        }
        #expect(try r.toxics("p").isEmpty)
        let added = try r.addToxic("p", Toxic(.latency(LatencyToxic(latency: .milliseconds(10))), stream: .upstream))
        #expect(added.toxic.attributes == ["latency": 10, "jitter": 0] && added.toxic.name == "latency_upstream")
        let changed = try r.updateToxic("p", "latency_upstream") { t in
            var t = t
            t.kind = .latency(LatencyToxic(latency: .milliseconds(20)))
            return t
        }
        #expect(changed.toxic.attributes["latency"] == 20)
        #expect(try !r.setEnabled("p", false).enabled)
        #expect(f.call("GET", "/proxies/p").body.contains(#""enabled":false"#))
        #expect(try r.setEnabled("p", true).enabled)
        // A request for a proxy or toxic that does not exist gets 404 before its body is read,
        // as in Toxiproxy.
        #expect(f.call("POST", "/proxies/nope/toxics", #"{"type":"gremlin"}"#).status == 404)
        #expect(f.call("PATCH", "/proxies/p/toxics/nope", #"{"toxicity":7}"#).status == 404)
        #expect(f.call("PATCH", "/proxies/nope", #"{"enabled":"x"}"#).status == 404)
    }

    @Test("toxic names with '/' or whitespace get 400, as proxy names do")
    func toxicNames() {
        let f = Fixture()
        #expect(f.call("POST", "/proxies", #"{"name":"p","upstream":"127.0.0.1:9"}"#).status == 201)
        for name in ["a/b", "a b", "tab\\tname", "/"] {
            let r = f.call("POST", "/proxies/p/toxics", #"{"name":"\#(name)","type":"timeout"}"#)
            #expect(r.status == 400 && r.body.contains("may not contain"), "\(name): \(r)")
        }
        #expect(f.call("GET", "/proxies/p/toxics").body == "[]")
    }

    @Test("proxies listen on loopback and ports from 1024 unless allowed; the 403 names the flag")
    func listenAddressesAreLoopbackByDefault() {
        let f = Fixture()
        let cases: [(String, String)] = [
            ("0.0.0.0:0", "--allow-listen 0.0.0.0"), (":0", "--allow-listen 0.0.0.0"), ("[::]:0", "--allow-listen ::"),
            ("127.0.0.1:443", "--allow-privileged-ports"), ("example.com:0", "--allow-listen any"),
        ]
        for (listen, words) in cases {
            let r = f.call("POST", "/proxies", #"{"name":"x","listen":"\#(listen)","upstream":"127.0.0.1:9"}"#)
            #expect(r.status == 403 && r.body.contains(words), "\(listen): \(r)")
        }
        #expect(f.call("POST", "/proxies", #"{"name":"x","listen":"0.0.0.0:0","upstream":"127.0.0.1:9"}"#)
            .body.contains("Testcontainers"))
        #expect(f.call("POST", "/proxies", #"{"name":"ok","listen":"127.0.0.2:0","upstream":"127.0.0.1:9"}"#).status == 201)
        let moved = f.call("PATCH", "/proxies/ok", #"{"listen":"0.0.0.0:0"}"#)
        #expect(moved.status == 403, "\(moved)")
        #expect(f.call("GET", "/proxies/ok").body.contains("127.0.0.2"))
    }

    @Test("--allow-listen 0.0.0.0 and --allow-privileged-ports widen it")
    func allowedListen() throws {
        let policy = try ListenPolicy.parse(allowListen: ["0.0.0.0,::1"], privilegedPorts: true)
        #expect(throws: Never.self) { try policy.check(HostPort(host: "0.0.0.0", port: 8666)) }
        #expect(throws: Never.self) { try policy.check(HostPort(host: "", port: 80)) }
        #expect(throws: ServeFailure.self) { try policy.check(HostPort(host: "10.0.0.5", port: 8666)) }
        let any = try ListenPolicy.parse(allowListen: ["any"], privilegedPorts: false)
        #expect(throws: Never.self) { try any.check(HostPort(host: "example.com", port: 8666)) }
        #expect(throws: ServeFailure.self) { try any.check(HostPort(host: "example.com", port: 22)) }
        #expect(throws: ApiError.self) { _ = try ListenPolicy.parse(allowListen: ["nowhere"], privilegedPorts: false) }
    }

    @Test("a populate with one refused proxy changes nothing: not even the good ones before it")
    func populateIsAllOrNothing() {
        let f = Fixture()
        #expect(f.call("POST", "/proxies", #"{"name":"old","upstream":"127.0.0.1:9"}"#).status == 201)
        let before = f.call("GET", "/proxies").body
        for bad in [#"{"name":"b","listen":"0.0.0.0:0","upstream":"127.0.0.1:9"}"#,
            #"{"name":"b","listen":"127.0.0.1:80","upstream":"127.0.0.1:9"}"#]
        {
            let list = #"[{"name":"a","upstream":"127.0.0.1:9"},{"name":"old","upstream":"127.0.0.1:10"},\#(bad)]"#
            let r = f.call("POST", "/populate", list)
            #expect(r.status == 403, "\(r)")
            #expect(f.call("GET", "/proxies").body == before)
        }
    }

    @Test("a token compares whole and in constant time; an empty Bearer or token never authenticates")
    func tokens() {
        #expect(ApiRouter.authenticates("Bearer s3cret", token: "s3cret"))
        for header in ["Bearer s3cre", "Bearer s3cretX", "Bearer ", "Bearer", "s3cret", "bearer s3cret", ""] {
            #expect(!ApiRouter.authenticates(header, token: "s3cret"), "\(header)")
        }
        #expect(!ApiRouter.authenticates(nil, token: "s3cret"))
        #expect(!ApiRouter.authenticates("Bearer ", token: ""))
        let f = Fixture(token: "")
        #expect(f.call("GET", "/version", headers: [("Authorization", "Bearer ")]).status == 401)
    }
}

@Suite struct ServeFailureTests {
    @Test("each failure's HTTP status is decided in one place, with Toxiproxy's words where it has them")
    func statuses() {
        let table: [(ServeFailure, Int, String)] = [
            (.request(.methodNotAllowed), 405, "method not allowed"),
            (.proxyNotFound, 404, "proxy not found"), (.toxicNotFound, 404, "toxic not found"),
            (.proxyAlreadyExists, 409, "proxy already exists"), (.toxicAlreadyExists, 409, "toxic already exists"),
            (.listenNotAllowed("listen 0.0.0.0:1: ..."), 403, "listen 0.0.0.0:1: ..."),
            (.listenFailed(address: "127.0.0.1:3310", reason: "bind: address already in use"), 500,
             "listen tcp 127.0.0.1:3310: bind: address already in use"),
            (.upstreamNotAllowed(port: 22, allowed: [6379, 3306]), 403,
             "upstream port 22 is not one this daemon may fault; it faults only the ports of --allow-ports (3306,6379)"),
            (.unresolvableUpstream(host: "nowhere"), 400, "the kernel backend cannot resolve upstream host 'nowhere'"),
            (.cannotExpress(toxic: "s", type: .slicer, why: "no"), 400,
             "the kernel backend cannot express toxic 's' (slicer): no; run netfault serve --backend proxy for it"),
            (.partialToxicity(toxic: "t", toxicity: 0.5, why: "netem"), 400,
             "the kernel backend cannot draw toxicity 0.5 of toxic 't': netem; give toxicity 1, or run"),
            (.noNetem(toxic: "l", type: .latency), 501, "this kernel has no netem (CONFIG_NET_SCH_NETEM)"),
            (.invalid("--delay too long"), 400, "--delay too long"), (.conflict("held"), 409, "held"),
            (.unavailable("no ifb"), 501, "no ifb"), (.shuttingDown, 503, "the daemon is shutting down"),
            (.failed("EPERM"), 500, "EPERM"),
        ]
        for (failure, status, words) in table {
            let e = ApiError(failure)
            #expect(e.status == status && e.error.contains(words), "\(failure): \(e)")
        }
        #expect(ServeFailure(InputError("bad")) == .invalid("bad"))
        #expect(ServeFailure(ApiError.toxicNotFound) == .request(.toxicNotFound))
        // Exit statuses split as the HTTP statuses do: 4xx but 409 the caller's (64), 409 73, a
        // missing kernel feature (501) 69 as every netfault command, else 71.
        for (failure, status, _) in table {
            let exit: Int32 = status == 409 ? 73 : status == 501 ? 69 : status < 500 ? 64 : 71
            #expect(failure.exitStatus == exit, "\(failure)")
        }
        let config = ServeError.config("p.json", ServeFailure.proxyAlreadyExists)
        #expect(config.exitStatus == 73 && config.description == "--config p.json: proxy already exists")
    }
}
