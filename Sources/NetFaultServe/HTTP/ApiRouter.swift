import FoundationEssentials
import NetFaultCore

/// An HTTP answer: status, content type, body.
public struct ApiResponse: Sendable, Equatable {
    public var status: Int
    public var contentType = "application/json"
    public var body: [UInt8]

    static func json<T: Encodable>(_ value: T, status: Int = 200) -> ApiResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same bytes for the same state
        return ApiResponse(status: status, body: Array((try? encoder.encode(value)) ?? Data("null".utf8)))
    }
    static func noContent() -> ApiResponse { ApiResponse(status: 204, body: []) }
    /// As Toxiproxy's http.Error: the JSON error as text, with a newline.
    static func error(_ e: ApiError) -> ApiResponse {
        var r = json(e, status: e.status)
        r.contentType = "text/plain; charset=utf-8"
        r.body.append(UInt8(ascii: "\n"))
        return r
    }
}

/// Toxiproxy's routes over the registry. Pure request in, response out: the HTTP server and the
/// tests call the same function.
public struct ApiRouter: Sendable {
    public let registry: ProxyRegistry
    /// Required as `Authorization: Bearer TOKEN` when set.
    public let token: String?
    /// The Toxiproxy API version this follows: /version's `version`, a plain semantic version,
    /// since clients parse it (one with a build suffix made a published client fall back to
    /// older request forms). netfault's own version has a field of its own.
    public static let toxiproxyVersion = "2.12.0"

    public init(registry: ProxyRegistry, token: String? = nil) { self.registry = registry; self.token = token }

    public func handle(
        method: String, uri: String, headers: [(String, String)] = [], body: [UInt8] = []
    ) -> ApiResponse {
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }
        // Toxiproxy's guard against a web page that posts to localhost from a browser.
        if header("user-agent")?.hasPrefix("Mozilla/") == true {
            return ApiResponse(
                status: 403, contentType: "text/plain; charset=utf-8", body: Array("User agent not allowed\n".utf8))
        }
        if let token, !Self.authenticates(header("authorization"), token: token) { return .error(.unauthorized) }
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        let parts = path.split(separator: "/").map { Self.percentDecoded($0) }
        do {
            return try route(method.uppercased(), parts, body)
        } catch {
            return .error(ApiError(error))
        }
    }

    /// `Authorization: Bearer TOKEN` with the daemon's token, compared in constant time so that
    /// the answer's timing does not tell how much of a guess was right. An empty token (which
    /// serve refuses at start) authenticates nothing.
    static func authenticates(_ header: String?, token: String) -> Bool {
        guard !token.isEmpty, let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(7)), wanted = Array(token.utf8)
        var difference = UInt8(given.count == wanted.count ? 0 : 1)
        for i in 0..<wanted.count { difference |= wanted[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }

    /// A path segment with %XX escapes decoded; left as it is when they do not make UTF-8.
    static func percentDecoded(_ s: Substring) -> String {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2,
                let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16)
            {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(validating: out, as: UTF8.self) ?? String(s)
    }

    /// What the API made of a request, its refusal a failure of the request.
    private static func request<T>(_ body: () throws(ApiError) -> T) throws(ServeFailure) -> T {
        do { return try body() } catch { throw .request(error) }
    }

    /// POST /populate: the proxies of a JSON array, created or kept; the first error and its status.
    private func populate(_ body: [UInt8]) throws(ServeFailure) -> ApiResponse {
        let list = try Self.request { () throws(ApiError) in
            guard case .array(let items) = try JSONValue.parse(body) else {
                throw ApiError.badRequestBody.joined("populate takes a JSON array of proxies")
            }
            return try items.enumerated().map { i, item throws(ApiError) in
                try ProxySettings.parse(item, index: i + 1)
            }
        }
        let (proxies, failure) = registry.populate(list)
        let error = failure.map(ApiError.init)
        struct Populated: Encodable { let error: String?; let status: Int?; let proxies: [ProxyView] }
        return .json(
            Populated(error: error?.error, status: error?.status, proxies: proxies), status: error?.status ?? 201)
    }

    private func route(_ method: String, _ p: [String], _ body: [UInt8]) throws(ServeFailure) -> ApiResponse {
        let r = registry
        func methods(_ allowed: String...) throws(ServeFailure) {
            guard allowed.contains(method) else { throw .request(.methodNotAllowed) }
        }
        switch p.count {
        case 1 where p[0] == "version":
            try methods("GET")
            var out = ApiResponse.json(["version": Self.toxiproxyVersion, "netfault": NetFaultVersion.current])
            out.contentType = "application/json;charset=utf-8"
            return out
        case 1 where p[0] == "metrics":
            try methods("GET")
            return ApiResponse(
                status: 200, contentType: MetricsExposition.contentType,
                body: Array(MetricsExposition.text(r.metrics()).utf8))
        case 1 where p[0] == "reset":
            try methods("POST")
            try r.reset()
            return .noContent()
        case 1 where p[0] == "populate":
            try methods("POST")
            return try populate(body)
        case 1 where p[0] == "proxies":
            try methods("GET", "POST")
            if method == "GET" { return .json(r.list()) }
            let settings = try Self.request { () throws(ApiError) in try ProxySettings.parse(JSONValue.parse(body)) }
            return .json(try r.create(settings), status: 201)
        case 2 where p[0] == "proxies":
            try methods("GET", "POST", "PATCH", "DELETE")
            switch method {
            case "GET": return .json(try r.proxy(p[1]))
            case "DELETE":
                try r.delete(p[1])
                return .noContent()
            default:
                let update = try Self.request { () throws(ApiError) in try JSONValue.parse(body) }
                return .json(try r.update(p[1]) { s throws(ApiError) in try s.updated(by: update) })
            }
        case 3 where p[0] == "proxies" && p[2] == "toxics", 4 where p[0] == "proxies" && p[2] == "toxics":
            return try toxics(method, proxy: p[1], toxic: p.count == 4 ? p[3] : nil, body)
        default:
            throw .request(.notFound)
        }
    }

    /// /proxies/{proxy}/toxics and /proxies/{proxy}/toxics/{toxic}.
    private func toxics(_ method: String, proxy: String, toxic: String?, _ body: [UInt8]) throws(ServeFailure)
        -> ApiResponse
    {
        let r = registry
        let allowed = toxic == nil ? ["GET", "POST"] : ["GET", "POST", "PATCH", "DELETE"]
        guard allowed.contains(method) else { throw .request(.methodNotAllowed) }
        guard let toxic else {
            if method == "GET" { return .json(try r.toxics(proxy)) }
            let given = try Self.request { () throws(ApiError) in try JSONValue.parse(body) }
            return .json(try r.addToxic(proxy) { () throws(ApiError) in try Toxic.parse(given) })
        }
        switch method {
        case "GET": return .json(try r.toxic(proxy, toxic))
        case "DELETE":
            try r.deleteToxic(proxy, toxic)
            return .noContent()
        default:
            let update = try Self.request { () throws(ApiError) in try JSONValue.parse(body) }
            return .json(try r.updateToxic(proxy, toxic) { t throws(ApiError) in try t.updated(by: update) })
        }
    }
}
