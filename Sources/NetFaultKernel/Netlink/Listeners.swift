import Foundation

/// The TCP ports something listens on in a network namespace, from /proc/net/tcp and tcp6 as a
/// thread inside that namespace sees them: where a server is local, its requests arrive.
public enum Listeners {
    static let listenState = "0A"

    public static func tcpPorts(in namespace: NetworkNamespace?) throws -> Set<UInt16> {
        try inNamespace(namespace) {
            var ports: Set<UInt16> = []
            for file in ["tcp", "tcp6"] {
                // thread-self: the namespace of this thread, which `inside` moved.
                guard let text = try? String(contentsOfFile: "/proc/thread-self/net/\(file)", encoding: .utf8) else {
                    continue
                }
                ports.formUnion(parse(text))
            }
            return ports
        }
    }

    /// Lines "sl local_address rem_address st ...", addresses as HEXADDR:HEXPORT.
    static func parse(_ table: String) -> Set<UInt16> {
        var ports: Set<UInt16> = []
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 3, f[3] == listenState,
                let port = f[1].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) })
            else { continue }
            ports.insert(port)
        }
        return ports
    }
}
