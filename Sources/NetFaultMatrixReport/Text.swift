// Text helpers the writers share: test output is untrusted (ANSI colours, control characters,
// markup), and FoundationEssentials has no String(format:).

enum Text {
    /// Output as a reader should see it: ANSI escape sequences removed (a coloured "FAILED"
    /// stays "FAILED"), CRLF as LF, and every character XML 1.0 forbids dropped, so the XML
    /// and HTML writers can escape the rest.
    static func plain(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        var scalars = s.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? scalars.next() {
            pending = nil
            switch c.value {
            case 0x1B:  // ESC: skip the sequence it starts
                guard let next = scalars.next() else { break }
                if next == "[" {
                    // CSI: parameters and intermediates, then one final byte in @...~.
                    while let p = scalars.next(), !(0x40...0x7E).contains(p.value) {}
                } else if next == "]" {
                    // OSC: up to BEL or ESC \.
                    while let p = scalars.next() {
                        if p.value == 0x07 { break }
                        if p.value == 0x1B { _ = scalars.next(); break }
                    }
                }
                // Any other ESC x: a two-character sequence, both dropped.
            case 0x0D:
                let next = scalars.next()
                if next != "\n" { out.append("\n") }
                pending = next
            case 0x09, 0x0A: out.append(c)
            // C0 and C1 controls (XML forbids C0; browsers flag C1), and the two non-characters XML forbids.
            case 0..<0x20, 0x7F...0x9F, 0xFFFE, 0xFFFF: break
            default: out.append(c)
            }
        }
        return String(out)
    }

    /// Escaped for XML text and attribute values alike (and so for HTML): the five markup
    /// characters as references, tab and newline as references too so attribute values keep them.
    static func escaped(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in plain(s).unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// For attribute values: newlines and tabs as references, which XML would otherwise fold to spaces.
    static func attribute(_ s: String) -> String {
        escaped(s).replacing("\n", with: "&#10;").replacing("\t", with: "&#9;")
    }

    /// One line for a terminal or a label: plain, whitespace runs folded to one space.
    static func oneLine(_ s: String) -> String {
        plain(s).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// At most `limit` characters, the cut marked with an ellipsis.
    static func truncated(_ s: String, to limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(max(0, limit - 1))) + "…"
    }

    /// `value` with exactly `digits` decimals, rounded half away from zero: "8.51", "-0.30".
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return "\(value)" }
        let n = UInt64(scaled)
        let whole = n / UInt64(scale), fraction = n % UInt64(scale)
        var text = String(whole)
        if digits > 0 {
            let f = String(fraction)
            text += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return (value < 0 && n != 0 ? "-" : "") + text
    }

    /// Seconds as a terminal and page show them: "8.51s".
    static func seconds(_ value: Double?) -> String { value.map { fixed($0, 2) + "s" } ?? "-" }

    /// A difference with its sign: "+2.40s", "-0.30s".
    static func signedSeconds(_ value: Double?) -> String {
        guard let value else { return "-" }
        let text = fixed(value, 2)
        return (text.hasPrefix("-") ? "" : "+") + text + "s"
    }

    /// The shortest of 0...3 decimals that shows `value` exactly (axis ticks: "20", "2.5", "0.25").
    static func short(_ value: Double) -> String {
        for digits in 0...3 {
            let text = fixed(value, digits)
            if abs((Double(text) ?? value) - value) < 1e-9 { return text }
        }
        return fixed(value, 3)
    }
}
