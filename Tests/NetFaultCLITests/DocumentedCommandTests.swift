import ArgumentParser
import Foundation
import Testing
@testable import netfault

/// Every netfault command line README.md, docs/*.md and the help's own examples show goes
/// through the parser and the checks apply and run make before they touch the kernel, so a
/// renamed option, a dropped one or a value the code refuses cannot stay in the documentation.
/// Blocks marked `<!-- example: ... -->` are left out: scripts/doc-examples runs those, with
/// the exit statuses they show.
struct DocumentedCommandTests {
    typealias Fuzz = ArgumentFuzzTests

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// README.md and docs/*.md (bench.md's tables quote commands as row names, not to run).
    static func pages() throws -> [(name: String, text: String)] {
        let docs = root.appendingPathComponent("docs")
        let names = try FileManager.default.contentsOfDirectory(atPath: docs.path)
            .filter { $0.hasSuffix(".md") && $0 != "bench.md" }.sorted().map { "docs/" + $0 }
        return try (["README.md"] + names).map {
            ($0, try String(contentsOf: root.appendingPathComponent($0), encoding: .utf8))
        }
    }

    @Test("every netfault apply/run/status/revert/doctor line in README.md and docs/ parses and validates")
    func documented() throws {
        var count = 0
        for page in try Self.pages() {
            for found in DocumentedCommands.find(in: page.text) {
                count += 1
                // Bad input is 64; another status (a namespace `--netns testbed` names is not on
                // this machine) means the line itself was understood.
                let (kind, status, message) = Fuzz.outcome(found.argv)
                #expect(
                    kind != .help && status != 64,
                    "\(page.name):\(found.line): \(found.argv.joined(separator: " ")): exit \(status) \(message)")
            }
        }
        // The pages show dozens; finding few would mean the scan, not the pages, went wrong.
        #expect(count >= 40, "only \(count) command lines found in README.md and docs/")
    }

    /// serve and matrix are programs of their own, which this target does not link: their
    /// documented options are checked against their man pages, which `make containers` checks
    /// against their --help.
    @Test("every option README.md and docs/ give netfault serve and netfault matrix is in its man page")
    func serveAndMatrixOptions() throws {
        var count = 0
        for (program, page) in [("serve", "docs/man/netfault-serve.1"), ("matrix", "docs/man/netfault-matrix.1")] {
            let manual = try String(contentsOf: Self.root.appendingPathComponent(page), encoding: .utf8)
            let known = Set(DocumentedCommands.manualOptions(manual))
            #expect(known.contains("help") && known.count > 5, "\(page): \(known.sorted())")
            for doc in try Self.pages() {
                for (line, option) in DocumentedCommands.options(of: program, in: doc.text) {
                    count += 1
                    #expect(known.contains(option), "\(doc.name):\(line): netfault \(program) --\(option) is not in \(page)")
                }
            }
        }
        #expect(count >= 10, "only \(count) serve and matrix options found in README.md and docs/")
    }

    @Test("the Examples: of each command's --help parse and validate")
    func helpExamples() {
        var count = 0
        for type in [Apply.self, RunCommand.self] as [ParsableCommand.Type] {
            let discussion = type.configuration.discussion
            guard let examples = discussion.components(separatedBy: "Examples:\n").last, discussion.contains("Examples:")
            else {
                Issue.record("\(type) has no Examples: in its discussion")
                continue
            }
            for line in examples.split(separator: "\n") {
                let text = line.trimmingCharacters(in: .whitespaces)
                let words = DocumentedCommands.words(text.hasPrefix("sudo ") ? String(text.dropFirst(5)) : text)
                guard words.first == "netfault" else { continue }
                count += 1
                let (kind, status, message) = Fuzz.outcome(Array(words.dropFirst()))
                #expect(kind == .request, "\(type) --help: \(text): exit \(status) \(message)")
            }
        }
        #expect(count >= 10, "only \(count) examples found in apply's and run's --help")
    }

    @Test("the scan finds commands in blocks, after a prompt, sudo or docker, and in inline code; skips the rest")
    func scan() {
        let page = """
            Run `sudo netfault apply redis --delay 10` and `netfault run` (a name, not a command).

            ```sh
            $ sudo netfault revert --all    # a comment
            docker run --rm IMAGE netfault apply mysql --blackhole \\
                --for 5m
            netfault apply TARGET [--for D]
            ["netfault apply + revert", "41.8"]
            ```

            <!-- example: netns redis -->
            ```
            $ netfault apply redis --loss 120%
            ```
            """
        let found = DocumentedCommands.find(in: page)
        #expect(found.map(\.argv) == [
            ["apply", "redis", "--delay", "10"], ["revert", "--all"], ["apply", "mysql", "--blackhole", "--for", "5m"]
        ])
        #expect(found.map(\.line) == [1, 4, 5])
        // The first is what the test above would report: --delay 10 has no unit.
        #expect(Fuzz.outcome(found[0].argv).0 == .usageError)
    }
}

/// Finds the netfault command lines a Markdown page shows.
enum DocumentedCommands {
    static let subcommands: Set<String> = ["apply", "run", "status", "revert", "doctor"]

    /// Each command: the line it starts on and its arguments after `netfault`.
    static func find(in text: String) -> [(line: Int, argv: [String])] {
        let lines = text.components(separatedBy: "\n")
        var found: [(Int, [String])] = []
        var inBlock = false, example = false, pending = "", start = 0
        // Prose by paragraph: an inline span may break across lines.
        var paragraph = "", paragraphStart = 0
        func endParagraph() {
            for span in inlineCode(paragraph) where span.hasPrefix("netfault ") || span.hasPrefix("sudo netfault ") {
                if let argv = command(in: span) { found.append((paragraphStart, argv)) }
            }
            paragraph = ""
        }
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("```") {
                endParagraph()
                if !inBlock { example = i > 0 && lines[i - 1].hasPrefix("<!-- example:") }
                inBlock.toggle()
                pending = ""
                continue
            }
            guard inBlock else {
                if line.trimmingCharacters(in: .whitespaces).isEmpty {
                    endParagraph()
                } else {
                    if paragraph.isEmpty { paragraphStart = i + 1 }
                    paragraph += line + " "
                }
                continue
            }
            if example { continue }
            if pending.isEmpty { start = i + 1 }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            let joined = pending + line
            pending = ""
            if let argv = command(in: joined) { found.append((start, argv)) }
        }
        endParagraph()
        return found
    }

    /// The long options of `netfault PROGRAM ...` in each line of a page (up to a comment or a
    /// shell operator), with their line numbers.
    static func options(of program: String, in text: String) -> [(Int, String)] {
        var out: [(Int, String)] = []
        for (i, line) in text.components(separatedBy: "\n").enumerated() {
            var rest = Substring(line)
            while let r = rest.range(of: "netfault \(program) ") {
                var tail = rest[r.upperBound...]
                if let end = tail.firstIndex(where: { "`#|;&)".contains($0) }) { tail = tail[..<end] }
                for word in tail.split(separator: " ") where word.hasPrefix("--") && word.count > 2 {
                    let name = word.dropFirst(2).prefix { $0.isLetter || $0 == "-" }
                    if !name.isEmpty { out.append((i + 1, String(name))) }
                }
                rest = rest[r.upperBound...]
            }
        }
        return out
    }

    /// The long options an mdoc page lists (`Fl -name`).
    static func manualOptions(_ manual: String) -> [String] {
        manual.components(separatedBy: "Fl -").dropFirst().map { String($0.prefix { $0.isLetter || $0 == "-" }) }
    }

    /// The spans between backticks.
    static func inlineCode(_ line: String) -> [String] {
        let parts = line.components(separatedBy: "`")
        return stride(from: 1, to: parts.count, by: 2).map { parts[$0] }
    }

    /// The arguments of the `netfault SUBCOMMAND ...` in a line: at its start (after `$ `,
    /// `sudo `) or after a space (a container's command), up to a comment or a shell operator;
    /// nil for none, for a bare name (`netfault run`) and for a synopsis with placeholders.
    static func command(in line: String) -> [String]? {
        let all = words(line)
        guard let at = all.indices.first(where: { i in
            all[i] == "netfault" && i + 1 < all.count && subcommands.contains(all[i + 1])
        }) else { return nil }
        // A quoted row name ("netfault apply + revert") is not a command.
        if let range = line.range(of: "netfault " + all[at + 1]), range.lowerBound > line.startIndex,
            line[line.index(before: range.lowerBound)] == "\""
        {
            return nil
        }
        var argv: [String] = []
        for word in all[(at + 1)...] {
            if ["#", "|", "||", ";", "&&", "&"].contains(word) || word.hasPrefix(">") || word.hasPrefix("2>") { break }
            argv.append(word)
        }
        let placeholder = argv.contains { w in
            w.contains("[") || w.contains("...") || (w.count > 1 && w.allSatisfy { $0.isUppercase })
        }
        if placeholder || (argv.count == 1 && argv[0] != "status" && argv[0] != "doctor") { return nil }
        return argv
    }

    /// Shell-like words: spaces split, single and double quotes group (and are dropped); an
    /// unquoted `#` after a space starts a comment, kept as the word "#".
    static func words(_ line: String) -> [String] {
        var out: [String] = [], word = "", quote: Character? = nil, inWord = false
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { out.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(c)
                inWord = true
            }
        }
        if inWord { out.append(word) }
        if let hash = out.firstIndex(where: { $0.hasPrefix("#") }) { out = Array(out[..<hash]) + ["#"] }
        return out
    }
}
