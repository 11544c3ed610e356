/// A list of ports as the lease journal keeps it: "6379,20000-29998", runs of consecutive ports
/// (rising or falling) in their order. As a JSON array of numbers, 10,000 ports took about 4 ms
/// to encode and as much to decode, for each of the two lists an entry holds, at each of a
/// lease's writes and reads: a third of a 10,000-port apply+revert.
public enum PortList {
    /// The text of `ports`, order kept.
    public static func text(_ ports: [UInt16]) -> String {
        var parts: [String] = []
        var i = 0
        while i < ports.count {
            var j = i
            if i + 1 < ports.count, let step = runStep(ports[i], ports[i + 1]) {
                while j + 1 < ports.count && Int(ports[j + 1]) - Int(ports[j]) == step { j += 1 }
            }
            parts.append(j == i ? String(ports[i]) : "\(ports[i])-\(ports[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// The ports of `text` in its order; nil when it is not a list `text` makes.
    public static func ports(_ text: String) -> [UInt16]? {
        guard !text.isEmpty else { return [] }
        var ports: [UInt16] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count), let first = UInt16(ends[0]), let last = UInt16(ends[ends.count - 1])
            else { return nil }
            ports += first <= last ? Array(first...last) : (last...first).reversed()
        }
        return ports
    }

    /// 1 or -1 when `b` follows `a` in a run, else nil.
    private static func runStep(_ a: UInt16, _ b: UInt16) -> Int? {
        let d = Int(b) - Int(a)
        return d == 1 || d == -1 ? d : nil
    }
}

extension KeyedDecodingContainer {
    /// A port list written by `PortList.text`, or as an array of numbers (entries written before).
    func decodePorts(forKey key: Key) throws -> [UInt16] {
        if let array = try? decode([UInt16].self, forKey: key) { return array }
        let text = try decode(String.self, forKey: key)
        guard let ports = PortList.ports(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not a port list: \(text)")
        }
        return ports
    }
}
