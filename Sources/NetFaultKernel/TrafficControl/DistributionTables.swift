import FoundationEssentials
import Glibc
import NetFaultCore

/// netem's delay distribution tables, read from iproute2's data files (the same tables `tc`
/// sends). They are data, not a program: netfault runs no iproute2 binary.
public enum DistributionTables {
    public static let searchPaths = [
        "/usr/lib/x86_64-linux-gnu/tc", "/usr/lib/aarch64-linux-gnu/tc",
        "/usr/lib/tc", "/usr/lib64/tc", "/usr/local/lib/tc", "/usr/share/tc"
    ]

    public struct Missing: NetfaultError {
        public let name: String
        public var exitStatus: Int32 { ExitStatus.unavailable }
        public var description: String {
            """
            the netem distribution table '\(name).dist' was not found in \
            \(DistributionTables.searchPaths.joined(separator: ", ")); install iproute2 (apt-get install iproute2)
            """
        }
    }

    public static func load(_ d: Distribution) throws -> [Int16] {
        for dir in searchPaths {
            if let text = try? String(contentsOfFile: "\(dir)/\(d.rawValue).dist", encoding: .utf8) {
                return parse(text)
            }
        }
        throw Missing(name: d.rawValue)
    }

    /// The .dist format: whitespace-separated integers, '#' starts a comment line.
    static func parse(_ text: String) -> [Int16] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }) }
            .compactMap { Int16($0) }
    }
}
