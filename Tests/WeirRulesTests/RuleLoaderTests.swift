import Foundation
import Testing
import WeirCore

@testable import WeirRules

/// Parses `text` as a rule file and returns the diagnostics as `line:col: message` strings.
func diagnostics(_ text: String) -> [String] {
    RuleLoader.parse(text, file: "r.yaml").1.map { "\($0.location.line):\($0.location.column): \($0.message)" }
}

@Suite struct RuleLoaderTests {
    @Test func loadsTheIssueExample() throws {
        let text = """
            name: overheat
            sql: SELECT device, temp, topic(2) AS site FROM "sensors/+/telemetry" WHERE temp > 80
            actions:
              - publish: { topic: "alerts/${site}/${device}", qos: 1, retain: false }
              - log: {}
            """
        let (rules, errors) = RuleLoader.parse(text, file: "r.yaml")
        #expect(errors.isEmpty)
        let rule = try #require(rules.first)
        #expect(rule.name == "overheat")
        #expect(rule.query.topicFilters == ["sensors/+/telemetry"])
        #expect(rule.actions == [.publish(topic: try Template("alerts/${site}/${device}"), qos: 1, retain: false), .log(level: .info)])
        #expect(rule.location == SourceLocation(file: "r.yaml", line: 1, column: 1))
    }

    @Test func rulesListAndMultipleDocuments() {
        let text = """
            rules:
              - { name: a, sql: 'SELECT * FROM "a"', actions: [ { log: {} } ] }
              - { name: b, sql: 'SELECT * FROM "b"', actions: [ { log: null } ] }
            ---
            name: c
            sql: SELECT * FROM "c/#"
            actions: [ { log: { level: debug } } ]
            """
        let (rules, errors) = RuleLoader.parse(text, file: "r.yaml")
        #expect(errors.isEmpty)
        #expect(rules.map(\.name) == ["a", "b", "c"])
        #expect(rules[2].actions == [.log(level: .debug)])
    }

    @Test func sqlErrorInPlainScalarPointsIntoTheLine() {
        let errors = diagnostics(
            """
            name: x
            sql: SELECT a FORM "t"
            actions: [ { log: {} } ]
            """)
        #expect(errors.count == 1)
        // "FORM" starts at column 15 of line 2.
        #expect(errors.first?.hasPrefix("2:15: ") == true, "\(errors)")
    }

    @Test func sqlErrorInLiteralBlockPointsAtItsLine() {
        let errors = diagnostics(
            """
            name: x
            sql: |
              SELECT a
              FROM "t"
              WHERE a > )
            actions: [ { log: {} } ]
            """)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("5:13: ") == true, "\(errors)")
    }

    @Test func sqlErrorInFoldedBlockPointsAtItsLine() {
        let errors = diagnostics(
            """
            name: x
            sql: >
              SELECT a,
                FROM "t"
            actions: [ { log: {} } ]
            """)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("4:") == true, "\(errors)")
    }

    @Test func invalidTopicFilterIsLocated() {
        let errors = diagnostics(
            """
            name: x
            sql: SELECT a FROM "a/b#"
            actions: [ { log: {} } ]
            """)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("2:23: invalid topic filter") == true, "\(errors)")
    }

    @Test func unknownKeysAndActionsAreLocated() {
        #expect(
            diagnostics("name: x\nsql: SELECT a FROM \"t\"\nactions: [ { log: {} } ]\nacitons: []\n").first?.hasPrefix(
                "4:1: unknown key 'acitons'") == true)
        #expect(
            diagnostics("name: x\nsql: SELECT a FROM \"t\"\nactions:\n  - email: {}\n").first?.hasPrefix("4:5: unknown action 'email'")
                == true)
        #expect(
            diagnostics("name: x\nsql: SELECT a FROM \"t\"\nactions:\n  - publish: { topic: t, qos: 3 }\n").first?.contains(
                "'qos' must be 0, 1 or 2") == true)
        #expect(
            diagnostics("name: x\nsql: SELECT a FROM \"t\"\nactions:\n  - publish: { topic: t, retain: maybe }\n").first?.contains(
                "'retain' must be true or false") == true)
    }

    @Test func templateMustNameAnOutputColumn() {
        let errors = diagnostics(
            """
            name: x
            sql: SELECT device FROM "t"
            actions:
              - publish: { topic: "a/${site}" }
            """)
        #expect(errors.first?.hasPrefix("4:23: '${site}' is not an output column") == true, "\(errors)")
    }

    @Test func yamlSyntaxErrorIsLocated() {
        let errors = diagnostics("name: x\nsql: [unclosed\n")
        #expect(errors.count == 1)
        #expect(errors.first?.contains("invalid YAML") == true)
        #expect(errors.first?.hasPrefix("3:") == true || errors.first?.hasPrefix("2:") == true, "\(errors)")
    }

    @Test func missingFieldsAndDuplicateKeys() {
        #expect(diagnostics("name: x\nactions: [ { log: {} } ]\n").first?.contains("missing 'sql'") == true)
        #expect(
            diagnostics("name: x\nname: y\nsql: SELECT a FROM \"t\"\nactions: [ { log: {} } ]\n").first?.hasPrefix(
                "2:1: duplicate key 'name'") == true)
        #expect(diagnostics("name: x\nsql: SELECT a FROM \"t\"\nactions: []\n").first?.contains("at least one action") == true)
    }

    @Test func directoryLoadIsAllOrNothingAndChecksDuplicateNames() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weir-rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "name: a\nsql: SELECT * FROM \"x/#\"\nactions: [ { log: {} } ]\n".write(
            to: dir.appendingPathComponent("1.yaml"), atomically: true, encoding: .utf8)
        try "name: b\nsql: SELECT * FROM \"y\"\nactions: [ { log: {} } ]\n".write(
            to: dir.appendingPathComponent("2.yml"), atomically: true, encoding: .utf8)
        try "ignored".write(to: dir.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let set = try RuleLoader.load(directory: dir.path)
        #expect(set.rules.map(\.name) == ["a", "b"])
        #expect(set.topicFilters == ["x/#", "y"])
        #expect(set.candidates(for: "x/1").map(\.name) == ["a"])

        try "name: a\nsql: SELECT * FROM \"z\"\nactions: [ { log: {} } ]\n".write(
            to: dir.appendingPathComponent("3.yaml"), atomically: true, encoding: .utf8)
        #expect {
            try RuleLoader.load(directory: dir.path)
        } throws: { error in
            let list = error as? DiagnosticList
            return list?.diagnostics.count == 1 && list?.diagnostics.first?.message.contains("duplicate rule name 'a'") == true
        }
    }

    @Test func disabledRulesAreCheckedButNotIndexed() throws {
        let (rules, errors) = RuleLoader.parse(
            "name: a\nenabled: false\nsql: SELECT * FROM \"x\"\nactions: [ { log: {} } ]\n", file: "r.yaml")
        #expect(errors.isEmpty)
        let set = RuleSet(rules: rules)
        #expect(set.topicFilters.isEmpty)
        #expect(set.candidates(for: "x").isEmpty)
    }
}

@Suite struct RuleSetProcessTests {
    func set(_ text: String) throws -> RuleSet {
        let (rules, errors) = RuleLoader.parse(text, file: "r.yaml")
        try #require(errors.isEmpty, "\(errors)")
        return RuleSet(rules: rules)
    }

    @Test func evaluatesMatchingRulesOnceEach() throws {
        let rules = try set(
            """
            rules:
              - { name: hot, sql: 'SELECT device, temp FROM "s/+/t", "s/#" WHERE temp > 80', actions: [ { log: {} } ] }
              - { name: all, sql: 'SELECT * FROM "s/#"', actions: [ { log: {} } ] }
            """)
        let outcome = rules.process(Event(topic: "s/a/t", payload: Array(#"{"device":"d","temp":81}"#.utf8), receivedAt: 0))
        #expect(outcome.candidates == 2)
        #expect(outcome.matches.map(\.rule.name) == ["hot", "all"])
        #expect(outcome.matches[0].row == ["device": "d", "temp": 81])
    }

    @Test func badPayloadsAreClassifiedAndSkipRules() throws {
        let rules = try set("name: a\nsql: SELECT * FROM \"#\"\nactions: [ { log: {} } ]\n")
        func reason(_ payload: [UInt8], limit: Int = 1024) -> String? {
            rules.process(Event(topic: "x", payload: payload, receivedAt: 0), maxPayloadBytes: limit).payloadErrorReason
        }
        #expect(reason([]) == "empty")
        #expect(reason(Array("not json".utf8)) == "not_json")
        #expect(reason([0x22, 0xFF, 0x22]) == "not_json")
        #expect(reason(Array(repeating: 0x20, count: 2000)) == "too_large")
        #expect(
            reason(Array((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8), limit: 100_000)
                == "not_json")
        #expect(reason(Array("{}".utf8)) == nil)
    }

    @Test func typeErrorsAreAttributedToTheRule() throws {
        let rules = try set("name: a\nsql: SELECT * FROM \"#\" WHERE temp > 80\nactions: [ { log: {} } ]\n")
        let outcome = rules.process(Event(topic: "x", payload: Array(#"{"temp":"hot"}"#.utf8), receivedAt: 0))
        #expect(outcome.matches.isEmpty)
        #expect(outcome.failures.map(\.rule) == ["a"])
    }

    @Test func unrelatedTopicsCostNoParse() throws {
        let rules = try set("name: a\nsql: SELECT * FROM \"s/#\"\nactions: [ { log: {} } ]\n")
        let outcome = rules.process(Event(topic: "other", payload: Array("not json".utf8), receivedAt: 0))
        #expect(outcome.candidates == 0)
        #expect(outcome.payloadError == nil)
    }

    @Test func windowedRuleOptionsAreCheckedWithPositions() {
        let head = "name: w\nsql: SELECT device, count(*) AS n FROM \"t/#\" GROUP BY device, TUMBLING(1m)\nactions: [ { log: {} } ]\n"
        #expect(
            diagnostics(head + "late: [ { log: {} } ]\n") == ["4:7: 'late' needs 'event_time': only event-time windows have late events"])
        #expect(diagnostics(head + "max_groups_in_memory: 0\n") == ["4:23: 'max_groups_in_memory' must be at least 1"])
        #expect(diagnostics(head + "event_time: { lateness: 2s }\n").first?.contains("field") == true)
        #expect(
            diagnostics("name: g\nsql: SELECT device, count(*) AS n FROM \"t/#\" GROUP BY device\nactions: [ { log: {} } ]\n").first?
                .hasPrefix("2:6: GROUP BY needs a window") == true)
        let late = head + "event_time: { field: ts, lateness: 1s }\nlate:\n  - publish: { topic: \"late/${device}\" }\n"
        let (rules, problems) = RuleLoader.parse(late, file: "r.yaml")
        #expect(problems.isEmpty, "late actions may use the event's own fields")
        #expect(rules.first?.lateActions.count == 1)
        #expect(rules.first?.timeMode == .event(field: "ts", lateness: 1000, idleTimeout: 30_000))
    }

    @Test func functionLimitsAreParsedAndCheckedWithPositions() throws {
        let file = """
            functions:
              - name: f
                exec: { command: [/bin/true] }
                limits: { memory: 64MiB, cpu_seconds: 10, open_files: 256 }
            """
        let parsed = RuleLoader.parseFile(file, file: "r.yaml")
        #expect(parsed.diagnostics.isEmpty)
        guard case .exec(let program)? = parsed.functions.first?.runtime else {
            Issue.record("no exec function")
            return
        }
        #expect(program.limits == FunctionSpec.ProcessLimits(memoryBytes: 64 << 20, cpuSeconds: 10, openFiles: 256))
        func error(_ limits: String, http: Bool = false) -> String? {
            let runtime = http ? "http: { url: \"http://127.0.0.1:1/\" }" : "exec: { command: [/bin/true] }"
            return diagnostics("functions:\n  - name: f\n    \(runtime)\n    limits: \(limits)\n").first
        }
        #expect(error("{ memory: 10KiB }")?.hasPrefix("4:23: 'memory' must be a size of at least 1MiB") == true)
        #expect(error("{ cpu_seconds: 0 }")?.contains("'cpu_seconds' must be between 1 and 31536000") == true)
        #expect(error("{ open_files: 2 }")?.contains("'open_files' must be between 4 and 1048576") == true)
        #expect(error("{ stack: 8MiB }")?.contains("unknown key 'stack'") == true)
        #expect(error("{ memory: 64MiB }", http: true)?.contains("'limits' applies to 'exec' functions") == true)
    }

    @Test func functionsAreDeclaredBesideRulesAndCallsAreChecked() throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("weir-fn-rules-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = """
            functions:
              - name: notify-ops
                exec: { command: ["/usr/lib/weir/fn/notify.py", "--level", "warn"], mode: oneshot, timeout: 10s }
                concurrency: 2
                retry: { attempts: 5, backoff: 500ms, max_backoff: 1m }
            rules:
              - name: overheat
                sql: SELECT device, temp FROM "sensors/+/telemetry" WHERE temp > 80
                actions:
                  - call: notify-ops
                  - call: page-someone
            """
        try file.write(to: dir.appendingPathComponent("fn.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: DiagnosticList.self) { try RuleLoader.load(directory: dir.path) }
        do {
            _ = try RuleLoader.load(directory: dir.path)
        } catch {
            #expect(
                error.diagnostics.map { "\($0.location.line):\($0.location.column): \($0.message)" }
                    == ["11:15: unknown function 'page-someone' (functions: notify-ops)"])
        }
        let fixed = file.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("page-someone") }.joined(
            separator: "\n")
        try fixed.write(to: dir.appendingPathComponent("fn.yaml"), atomically: true, encoding: .utf8)
        let set = try RuleLoader.load(directory: dir.path)
        let spec = try #require(set.functions["notify-ops"])
        #expect(
            spec.concurrency == 2 && spec.retry == FunctionSpec.Retry(attempts: 5, backoff: .milliseconds(500), maxBackoff: .seconds(60)))
        #expect(
            spec.runtime == .exec(FunctionSpec.Program(command: ["/usr/lib/weir/fn/notify.py", "--level", "warn"], timeout: .seconds(10))))
        #expect(set.rules.first?.actions == [.call(function: "notify-ops")])
    }
}
