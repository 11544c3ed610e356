/// An error the API answers with: Toxiproxy's body `{"error": MESSAGE, "status": CODE}` and
/// that status code.
public struct ApiError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    public let error: String
    public let status: Int

    public init(_ message: String, status: Int) { self.error = message; self.status = status }

    public var description: String { "\(status): \(error)" }

    /// Toxiproxy's prefix for an error about a field, e.g. "bad request body: ...".
    public func joined(_ detail: String) -> ApiError { ApiError("\(error): \(detail)", status: status) }

    // Toxiproxy's own errors, word for word, so that its clients recognise them.
    public static let badRequestBody = ApiError("bad request body", status: 400)
    public static let missingField = ApiError("missing required field", status: 400)
    public static let proxyNotFound = ApiError("proxy not found", status: 404)
    public static let proxyAlreadyExists = ApiError("proxy already exists", status: 409)
    public static let invalidStream = ApiError("stream was invalid, can be either upstream or downstream", status: 400)
    public static let invalidToxicType = ApiError("invalid toxic type", status: 400)
    public static let toxicAlreadyExists = ApiError("toxic already exists", status: 409)
    public static let toxicNotFound = ApiError("toxic not found", status: 404)
    // netfault's own.
    public static let unauthorized = ApiError(
        "missing or wrong token: send the header Authorization: Bearer TOKEN", status: 401)
    public static let methodNotAllowed = ApiError("method not allowed", status: 405)
    public static let notFound = ApiError("404 page not found", status: 404)
}
