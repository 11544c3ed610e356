// The report as JUnit XML, for CI: a suite per backend, a test case per cell (baselines
// included) and one per recovery check, so a CI page shows the fault and the recovery apart.
// Cell details go in JUnit 5 style <properties> inside each test case (junitparser and
// Jenkins read them).

extension MatrixReport {
    public func junitXML() -> String {
        let suites = backends.map { backend in
            Suite(name: backend, cases: cells.filter { $0.backend == backend }.flatMap(JUnitCase.cases))
        }
        let all = suites.flatMap(\.cases)
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"netfault matrix\"\(Self.totals(all)) timestamp=\"\(Text.attribute(started))\">\n"
        for suite in suites {
            xml += "  <testsuite name=\"\(Text.attribute(suite.name))\"\(Self.totals(suite.cases))"
            xml += " timestamp=\"\(Text.attribute(started))\">\n"
            xml += "    <properties>\n"
            xml += JUnitCase.property("scenario", scenario, indent: 6)
            xml += "    </properties>\n"
            for testCase in suite.cases { xml += testCase.xml }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }

    private struct Suite {
        var name: String
        var cases: [JUnitCase]
    }

    private static func totals(_ cases: [JUnitCase]) -> String {
        let count = { (kind: JUnitCase.Kind) in cases.filter { $0.kind == kind }.count }
        let time = cases.reduce(0.0) { $0 + $1.seconds }
        return " tests=\"\(cases.count)\" failures=\"\(count(.failure))\" errors=\"\(count(.error))\""
            + " skipped=\"\(count(.skipped))\" time=\"\(Text.fixed(time, 3))\""
    }
}

/// One <testcase>: a cell, or a cell's recovery check.
private struct JUnitCase {
    enum Kind { case pass, failure, error, skipped }
    var kind: Kind
    var seconds: Double
    var xml: String

    static func cases(_ cell: CellResult) -> [JUnitCase] {
        let className = "netfault.matrix." + (cell.service ?? "baseline")
        var properties = [("kernel", cell.kernel), ("randomness", cell.randomness), ("rerun", cell.rerun)]
        if !cell.faultWords.isEmpty { properties.append(("fault", cell.faultWords.joined(separator: " "))) }
        if let schedule = cell.schedule { properties.append(("schedule", schedule)) }
        properties.append(("outcome", cell.outcome))
        if let status = cell.exitStatus { properties.append(("exit status", String(status))) }
        if let baseline = cell.baselineSeconds { properties.append(("baseline seconds", Text.fixed(baseline, 3))) }
        if let growth = cell.growthSeconds { properties.append(("growth seconds", Text.fixed(growth, 3))) }
        if let expected = cell.expectedGrowthSeconds {
            properties.append(("expected growth seconds", Text.fixed(expected, 3)))
        }
        if let packets = cell.packetsMatched { properties.append(("packets matched", String(packets))) }
        for c in cell.connections {
            properties.append(("connections \(c.service) peak", String(c.peak)))
            properties.append(("connections \(c.service) final", String(c.final)))
        }
        for note in cell.notes { properties.append(("note", note)) }
        for key in cell.metrics.keys.sorted() {
            properties.append(("metric \(key)", Text.short(cell.metrics[key]!)))
        }

        let kind: Kind, result: String
        switch cell.state {
        case .passed:
            (kind, result) = (.pass, "")
        case .failed:
            let failure = element("failure", message: cell.outcome, type: "failed", body: cell.outputTail)
            (kind, result) = (.failure, failure)
        case .error:
            let message = cell.reason ?? cell.outcome
            (kind, result) = (.error, element("error", message: message, type: "error", body: cell.outputTail))
        case .skipped:
            (kind, result) = (.skipped, "      <skipped message=\"\(Text.attribute(cell.reason ?? cell.outcome))\"/>\n")
        }
        var out = [make(kind: kind, className: className, name: cell.id, seconds: cell.seconds,
                        properties: properties, result: result, output: cell.outputTail)]

        if let recovery = cell.recovery {
            var recoveryProperties = [("command", recovery.command), ("kernel", cell.kernel), ("rerun", cell.rerun)]
            if let status = recovery.exitStatus { recoveryProperties.append(("exit status", String(status))) }
            let message = "recovery failed" + (recovery.exitStatus.map { " (exit \($0))" } ?? "")
            out.append(make(
                kind: recovery.passed ? .pass : .failure, className: className, name: "\(cell.id) recovery",
                seconds: recovery.seconds, properties: recoveryProperties,
                result: recovery.passed
                    ? "" : element("failure", message: message, type: "failed", body: recovery.outputTail),
                output: recovery.outputTail))
        }
        return out
    }

    private static func make(
        kind: Kind, className: String, name: String, seconds: Double?, properties: [(String, String)],
        result: String, output: String
    ) -> JUnitCase {
        let time = seconds.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil } ?? 0
        var xml = "    <testcase classname=\"\(Text.attribute(className))\" name=\"\(Text.attribute(name))\""
        xml += " time=\"\(Text.fixed(time, 3))\">\n"
        xml += "      <properties>\n"
        for (name, value) in properties { xml += property(name, value, indent: 8) }
        xml += "      </properties>\n"
        xml += result
        if !output.isEmpty { xml += "      <system-out>\(Text.escaped(output))</system-out>\n" }
        xml += "    </testcase>\n"
        return JUnitCase(kind: kind, seconds: time, xml: xml)
    }

    static func property(_ name: String, _ value: String, indent: Int) -> String {
        String(repeating: " ", count: indent)
            + "<property name=\"\(Text.attribute(name))\" value=\"\(Text.attribute(value))\"/>\n"
    }

    private static func element(_ tag: String, message: String, type: String, body: String) -> String {
        "      <\(tag) message=\"\(Text.attribute(message))\" type=\"\(type)\">\(Text.escaped(body))</\(tag)>\n"
    }
}
