import FoundationEssentials
import Glibc
import WeirCore
import WeirRules

/// Finds and reads test files; renders results for people and for CI.
public enum RuleTestReport {
    /// The test files named by `paths` (files as they are, folders searched for `*.test.yaml`),
    /// or under `rulesDir` when no path is given.
    public static func files(paths: [String], rulesDir: String) throws(DiagnosticList) -> [String] {
        var files: [String] = []
        for path in paths.isEmpty ? [rulesDir] : paths {
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                do {
                    files += try RuleLoader.testFiles(in: path)
                } catch {
                    throw DiagnosticList([Diagnostic(SourceLocation(file: path, line: 1, column: 1), "cannot read directory")])
                }
            } else {
                files.append(path)
            }
        }
        return files
    }

    /// Parses every file; fails with every diagnostic of every file.
    public static func load(_ files: [String], rules: RuleSet) throws(DiagnosticList) -> [RuleTestFile] {
        var parsed: [RuleTestFile] = []
        var diagnostics: [Diagnostic] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                diagnostics.append(
                    Diagnostic(SourceLocation(file: file, line: 1, column: 1), "cannot read file (missing, unreadable or not UTF-8)"))
                continue
            }
            do {
                parsed.append(try RuleTestParser.parse(text, file: file, rules: rules))
            } catch {
                diagnostics += error.diagnostics
            }
        }
        guard diagnostics.isEmpty else { throw DiagnosticList(diagnostics) }
        return parsed
    }

    /// The results as a person reads them: a line per case, and for each failure the expected
    /// item, the closest happening and a diff of the fields that differ.
    public static func text(_ results: [CaseResult]) -> String {
        var lines: [String] = []
        var file: String?
        for result in results {
            if result.file != file {
                file = result.file
                lines.append(result.file)
            }
            lines.append("  \(result.passed ? "ok  " : "FAIL") \(result.name) (\(result.location.line):\(result.location.column))")
            for failure in result.failures { lines += describe(failure, in: result) }
        }
        let failed = results.filter { !$0.passed }.count
        let files = Set(results.map(\.file)).count
        lines.append("\(results.count) case(s) in \(files) file(s): \(results.count - failed) passed, \(failed) failed")
        return lines.joined(separator: "\n")
    }

    static func describe(_ failure: CaseFailure, in result: CaseResult) -> [String] {
        var lines = ["    \(failure.location): case '\(result.name)': \(failure.message)"]
        if let expected = failure.expected { lines.append("      expected: \(expected.description)") }
        if let closest = failure.closest {
            let label = failure.message.hasPrefix("unexpected") || failure.message.hasPrefix("'exactly") ? "actual:  " : "closest: "
            lines.append("      \(label) \(closest.description)")
        }
        for difference in failure.differences {
            lines.append("      - \(difference.path): \(difference.expected.map { "\($0)" } ?? "(absent)")")
            lines.append("      + \(difference.path): \(difference.actual.map { "\($0)" } ?? "(absent)")")
        }
        if let expected = failure.expected, !failure.message.hasPrefix("unexpected") {
            if failure.closest == nil {
                let seen = Dictionary(grouping: result.happenings, by: \.kind.rawValue).map { "\($0.value.count) \($0.key)" }.sorted()
                lines.append("      happened: \(seen.isEmpty ? "nothing" : seen.joined(separator: ", "))")
            }
            // Why the rules passed the events by: the WHERE terms that did not hold.
            var skips = result.skips
            if case .string(let rule)? = expected.fields["rule"] { skips = skips.filter { $0.rule == rule } }
            for skip in skips.prefix(5) { lines.append("      \(skip.description)") }
            if skips.count > 5 { lines.append("      (\(skips.count - 5) more)") }
        }
        return lines
    }

    /// The results as JSON, for CI systems.
    public static func json(_ results: [CaseResult]) -> String {
        let cases: [JSONValue] = results.map { result in
            let failures: [JSONValue] = result.failures.map { failure in
                var object: JSONObject = ["location": .string(failure.location.description), "message": .string(failure.message)]
                if let expected = failure.expected { object["expected"] = .string(expected.description) }
                if let closest = failure.closest { object["closest"] = .string(closest.description) }
                if !failure.differences.isEmpty {
                    object["differences"] = .array(
                        failure.differences.map { difference in
                            [
                                "path": .string(difference.path), "expected": difference.expected ?? .null,
                                "actual": difference.actual ?? .null,
                            ]
                        })
                }
                return .object(object)
            }
            return [
                "file": .string(result.file), "name": .string(result.name), "location": .string(result.location.description),
                "passed": .bool(result.passed), "elapsed_ms": .int(result.elapsedMillis),
                "happenings": .int(Int64(result.happenings.count)),
                "failures": .array(failures),
            ]
        }
        let failed = results.filter { !$0.passed }.count
        let report: JSONValue = [
            "cases": .array(cases), "passed": .int(Int64(results.count - failed)), "failed": .int(Int64(failed)),
        ]
        return JSONWriter.string(report)
    }
}
