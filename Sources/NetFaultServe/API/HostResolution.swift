import Glibc
import NIOCore

extension HostPort {
    /// The address with its host as a number, as Toxiproxy resolves a listen address before it
    /// compares or reports it ("localhost:7070" is "127.0.0.1:7070"): the host's first IPv4
    /// address, else its first IPv6 one; itself when the host is empty, a number already, or
    /// does not resolve.
    public var resolved: HostPort {
        guard !host.isEmpty else { return self }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return self }
        defer { freeaddrinfo(list) }
        var v4: String?, v6: String?
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let named = getnameinfo(
                n.pointee.ai_addr, n.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST)
            if named == 0 {
                let numeric = String(cString: text)
                if n.pointee.ai_family == AF_INET { v4 = v4 ?? numeric } else { v6 = v6 ?? numeric }
            }
            node = n.pointee.ai_next
        }
        return HostPort(host: v4 ?? v6 ?? host, port: port)
    }
}

/// Why a listener could not bind, in Go's words as Toxiproxy reports them
/// ("bind: address already in use"), from the errno; other errors as they describe themselves.
func bindFailure(_ error: any Error) -> String {
    guard let code = (error as? IOError)?.errnoCode else { return "\(error)" }
    var text = String(cString: strerror(code))
    if let first = text.first { text = first.lowercased() + text.dropFirst() }
    return "bind: \(text)"
}
