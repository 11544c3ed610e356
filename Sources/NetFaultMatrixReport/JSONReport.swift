import FoundationEssentials

// The report as JSON: the model's own Codable form, stable for diffs (sorted keys) and for
// reading (pretty, rerun commands' slashes left alone).

extension MatrixReport {
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public static func parse(json: String) throws -> MatrixReport {
        try JSONDecoder().decode(MatrixReport.self, from: Data(json.utf8))
    }
}
