import Foundation
import Testing

// The manifests of examples/kubernetes (docs/kubernetes.md) checked against Kubernetes' API
// schemas by kubernetes-validate (PyPI; its schemas are bundled, so it needs no cluster or
// network). --strict also refuses fields the schema does not know, such as a misspelt one.
// Missing, the tests are reported as not run, unless NETFAULT_REPORT_TOOLS=required (make unit).

enum KubernetesValidate {
    static let program = ReportTools.env["NETFAULT_KUBERNETES_VALIDATE"]
        ?? "/opt/netfault/kubernetes-validate/bin/kubernetes-validate"
    static let available = FileManager.default.isExecutableFile(atPath: program)
    static let reason: Comment = """
        needs kubernetes-validate in /opt/netfault/kubernetes-validate (scripts/install-deps installs it); \
        NETFAULT_REPORT_TOOLS=required makes this a failure
        """
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/kubernetes")

    /// The program, or a failure saying how to install it.
    static func require() throws -> String {
        try #require(available, "NETFAULT_REPORT_TOOLS=required, but \(program) is missing: install-deps installs it")
        return program
    }

    static func validate(_ file: URL) throws -> ProgramRun {
        try runProgram([try require(), "--strict", file.path])
    }

    static func manifests() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: examples, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}

@Suite(.enabled(if: KubernetesValidate.available || ReportTools.required, KubernetesValidate.reason))
struct KubernetesManifestTests {
    @Test func everyManifestMatchesTheSchemas() throws {
        let files = try KubernetesValidate.manifests()
        let names = Set(files.map(\.lastPathComponent))
        // The ones docs/kubernetes.md names: a rename must not leave them untested.
        for name in ["pod-serve-sidecar.yaml", "secret.yaml", "service.yaml", "proxies-configmap.yaml",
                     "pod-blackhole-sidecar.yaml"] {
            #expect(names.contains(name), "examples/kubernetes/\(name) is missing")
        }
        for file in files {
            let run = try KubernetesValidate.validate(file)
            let said = run.stdout + run.stderr
            #expect(run.status == 0, "\(file.lastPathComponent): \(said)")
            #expect(said.contains("passed for resource"), "\(file.lastPathComponent) was not checked: \(said)")
            #expect(!said.contains("ERROR") && !said.contains("WARN"), "\(file.lastPathComponent): \(said)")
        }
    }

    /// The check can fail: the sidecar's manifest with a port as a string, and with a misspelt field.
    @Test(arguments: [
        ("containerPort: 8474", "containerPort: \"eighty\"", "is not of type 'integer'"),
        ("readOnly: true", "readOnyl: true", "'readOnyl' was unexpected"),
    ])
    func aBrokenManifestFails(good: String, bad: String, message: String) throws {
        let text = try String(contentsOf: KubernetesValidate.examples.appendingPathComponent("pod-serve-sidecar.yaml"),
                              encoding: .utf8)
        try #require(text.contains(good))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("broken.yaml")
        try text.replacingOccurrences(of: good, with: bad).write(to: file, atomically: true, encoding: .utf8)
        let run = try KubernetesValidate.validate(file)
        #expect(run.status != 0, "a manifest with \(bad) passed: \(run.stdout)")
        #expect((run.stdout + run.stderr).contains(message), "\(run.stdout) \(run.stderr)")
    }
}
