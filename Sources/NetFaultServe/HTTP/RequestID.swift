/// The id of one API request, sent back as `X-Toxiproxy-Request-Id` as Toxiproxy does: 20
/// random characters of base32hex (0-9, a-v), the shape of Toxiproxy's xid ids, so a client's
/// log can name the request.
enum RequestID {
    static let header = "X-Toxiproxy-Request-Id"
    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuv".utf8)

    static func next() -> String {
        String(decoding: (0..<20).map { _ in alphabet[Int.random(in: 0..<32)] }, as: UTF8.self)
    }
}
