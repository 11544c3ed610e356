import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An XML document as the tests look at it: well-formed or the parser's error, and every element.
struct ParsedXML {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text = ""
    }
    var error: String?
    var elements: [Element] = []

    init(_ xml: String) {
        let parser = XMLParser(data: Data(xml.utf8))
        let collector = Collector()
        parser.delegate = collector
        if !parser.parse() {
            error = "\(parser.parserError.map { "\($0)" } ?? "unknown") at line \(parser.lineNumber) column \(parser.columnNumber)"
        }
        elements = collector.elements
    }

    func all(_ name: String) -> [Element] { elements.filter { $0.name == name } }

    private final class Collector: NSObject, XMLParserDelegate {
        var elements: [Element] = []
        var open: [Int] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            open.append(elements.count)
            elements.append(Element(name: name, attributes: attributes))
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            _ = open.popLast()
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            for i in open { elements[i].text += string }
        }
    }
}

/// The programs the tool tests run. Missing, they skip with a reason, unless
/// NETFAULT_REPORT_TOOLS=required (CI), when they run and fail saying what is missing.
/// NETFAULT_REPORT_PYTHON and NETFAULT_REPORT_CHROMIUM name other copies.
enum ReportTools {
    static let env = ProcessInfo.processInfo.environment
    static let required = env["NETFAULT_REPORT_TOOLS"] == "required"
    static let python = env["NETFAULT_REPORT_PYTHON"] ?? "/opt/netfault/toxiproxy/bin/python"

    /// The python that can import junitparser, or nil.
    static let junitparser: String? = {
        guard FileManager.default.isExecutableFile(atPath: python),
              let r = try? runProgram([python, "-c", "import junitparser"]), r.status == 0 else { return nil }
        return python
    }()

    static let chromium: String? = {
        if let named = env["NETFAULT_REPORT_CHROMIUM"] {
            return FileManager.default.isExecutableFile(atPath: named) ? named : nil
        }
        for dir in (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            for name in ["chromium", "chromium-browser"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return "\(dir)/\(name)"
            }
        }
        return nil
    }()
}

struct ProgramRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to its end, output through files (no pipe to fill). A program that has not
/// ended after five minutes is hung, not slow: it is stopped so the suite ends.
func runProgram(_ argv: [String]) throws -> ProgramRun {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("stdout"), err = dir.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    DispatchQueue.global().asyncAfter(deadline: .now() + 300) { if process.isRunning { process.terminate() } }
    process.waitUntilExit()
    return ProgramRun(status: process.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}

func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netfault-report-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// With NETFAULT_REPORT_KEEP=DIR, the tool tests leave what they wrote there for a person to look at.
func keep(_ name: String, _ text: String) {
    guard let dir = ProcessInfo.processInfo.environment["NETFAULT_REPORT_KEEP"] else { return }
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try? text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8)
}
