import Foundation

public enum Capabilities {
    static let capNetAdmin = 12

    /// Whether this process holds CAP_NET_ADMIN in its effective set (from /proc/self/status).
    public static func hasNetAdmin() -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << capNetAdmin) != 0
    }
}
