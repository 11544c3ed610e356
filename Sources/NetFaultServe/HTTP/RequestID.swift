/// The id of one API request, sent back as `X-Toxiproxy-Request-Id` as Toxiproxy does: 20
/// random characters of base32hex (0-9, a-v), the shape of Toxiproxy's xid ids, so a client's
/// log can name the request.
enum RequestID {
    static let header = "X-Toxiproxy-Request-Id"
    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuv".utf8)

    /// Five bits a character from two 64-bit draws: each draw is a system call, and one per
    /// character (Int.random) made 20 of them a measurable part of every response.
    static func next() -> String {
        var g = SystemRandomNumberGenerator()
        var bits = (g.next() as UInt64, g.next() as UInt64)
        var chars = [UInt8](repeating: 0, count: 20)
        for i in chars.indices {
            if i == 12 { bits.0 = bits.1 }  // 12 characters take 60 of the first draw's 64 bits
            chars[i] = alphabet[Int(bits.0 & 31)]
            bits.0 >>= 5
        }
        return String(decoding: chars, as: UTF8.self)
    }
}
