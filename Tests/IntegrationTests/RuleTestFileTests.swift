import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `weir test` with rule test files (`*.test.yaml`), through the real binary: the shipped rules'
/// tests, a broken rule's readable diff, `--json`, real functions in a temporary state directory,
/// and `weir check` on test files.
@Suite struct RuleTestFileTests {
    static let shippedRules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../rules")
        .standardizedFileURL

    /// A copy of the shipped rules folder, so a test may change it.
    func copyOfShippedRules(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weir-rt-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: Self.shippedRules, to: dir)
        return dir
    }

    func weirTest(_ arguments: [String], in dir: URL) throws -> (status: Int32?, output: String) {
        // No configuration installed: --rules is enough.
        try runWeir(["test", "--config", dir.appendingPathComponent("absent.yaml").path] + arguments, in: dir)
    }

    @Test func theShippedRulesTestsPass() throws {
        let rules = try copyOfShippedRules("shipped")
        let result = try weirTest(["--rules", rules.path], in: rules)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("overheat.test.yaml"))
        #expect(result.output.contains("password-rotation.test.yaml"))
        #expect(result.output.contains("ok   a 10 s summary per device"))
        #expect(result.output.contains(" 0 failed"), "\(result.output)")
        #expect(!result.output.contains("FAIL"))
    }

    @Test func aChangedThresholdFailsWithADiffAtTheExpectation() throws {
        let rules = try copyOfShippedRules("broken")
        let file = rules.appendingPathComponent("overheat.yaml")
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(text.contains("WHERE temp > 80"))
        try text.replacingOccurrences(of: "WHERE temp > 80", with: "WHERE temp > 90").write(to: file, atomically: true, encoding: .utf8)
        let result = try weirTest(["--rules", rules.path, rules.appendingPathComponent("overheat.test.yaml").path], in: rules)
        #expect(result.status == 1, "\(result.output)")
        let out = result.output
        #expect(out.contains("FAIL the threshold is strict"), "\(out)")
        // The expectation's own line and column in the test file.
        #expect(out.contains("overheat.test.yaml:20:9: case 'the threshold is strict (80 does not alert, 80.5 does)'"), "\(out)")
        #expect(out.contains(#"expected: publish {"topic":"alerts/site-2/d3","payload":{"temp":80.5},"at":"1s"}"#), "\(out)")
        #expect(out.contains("rule overheat did not take sensors/site-2/telemetry: WHERE temp > 90 is false"), "\(out)")
        #expect(out.contains("1 failed"))
    }

    @Test func aWrongRowShowsTheClosestActualOneFieldByField() throws {
        let rules = try copyOfShippedRules("diff")
        try """
        rules: [telemetry-10s]
        cases:
          - name: wrong average
            given:
              - { at: 0s, topic: sensors/s1/telemetry, payload: { device: d1, temp: 20 } }
              - { at: 1s, topic: sensors/s1/telemetry, payload: { device: d1, temp: 30 } }
            until: 10s
            expect:
              - forward: { upstream: cloud, row: { device: d1, temp_avg: 26, readings: 2 } }
        """.write(to: rules.appendingPathComponent("wrong.test.yaml"), atomically: true, encoding: .utf8)
        let result = try weirTest(["--rules", rules.path, rules.appendingPathComponent("wrong.test.yaml").path], in: rules)
        #expect(result.status == 1)
        #expect(result.output.contains("wrong.test.yaml:9:9: case 'wrong average': expected forward did not happen"), "\(result.output)")
        #expect(result.output.contains("closest:  forward at 10s"), "\(result.output)")
        #expect(result.output.contains("- row.temp_avg: 26\n      + row.temp_avg: 25.0"), "\(result.output)")

        let json = try weirTest(["--rules", rules.path, "--json", rules.appendingPathComponent("wrong.test.yaml").path], in: rules)
        #expect(json.status == 1)
        let report = try JSONParser.parse(Array(json.output.utf8))
        #expect(report["passed"] == .int(0))
        #expect(report["failed"] == .int(1))
        guard case .array(let cases)? = report["cases"], case .array(let failures)? = cases.first?["failures"] else {
            Issue.record("no cases in \(json.output)")
            return
        }
        #expect(failures.first?["location"] == .string(rules.appendingPathComponent("wrong.test.yaml").path + ":9:9"))
        #expect(failures.first?["differences"] == [["path": "row.temp_avg", "expected": 26, "actual": 25.0]])
    }

    @Test func functionsRunForRealInATemporaryStateDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weir-rt-fn-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let marker = dir.appendingPathComponent("seen-state-dir")
        _ = try writeScript(
            """
            cat >/dev/null
            echo "$WEIR_STATE_DIR" >"\(marker.path)"
            touch "$WEIR_STATE_DIR/mark"
            printf '{"state_dir":"%s","ok":true}\\n' "$WEIR_STATE_DIR"
            """, in: dir, name: "where.sh")
        try """
        functions:
          - name: where
            exec: { command: ["./where.sh"], timeout: 5s }
        rules:
          - name: ask
            sql: SELECT device FROM "in/+"
            actions:
              - call: where
        """.write(to: dir.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
        try """
        cases:
          - name: the function runs
            given:
              - { topic: in/a, payload: { device: d1 } }
            expect:
              - call: { function: where, row: { device: d1 }, output: { ok: true } }
        """.write(to: dir.appendingPathComponent("rules.test.yaml"), atomically: true, encoding: .utf8)
        let result = try weirTest(["--rules", dir.path], in: dir)
        #expect(result.status == 0, "\(result.output)")
        let stateDir = try String(contentsOf: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(stateDir.hasPrefix("/tmp/weir-test-"), "\(stateDir)")
        #expect(!FileManager.default.fileExists(atPath: stateDir), "the temporary state directory is removed afterwards")
    }

    @Test func checkValidatesTestFilesAndTheLoaderSkipsThem() throws {
        let fixture = try BinaryFixture(
            name: "rt-check", brokerPort: 1,
            rules: [
                "hot.yaml": #"{ name: hot, sql: "SELECT * FROM \"t/+\" WHERE v > 1", actions: [ { log: {} } ] }"#,
                "hot.test.yaml": """
                cases:
                  - name: fine
                    given: [ { topic: t/a, payload: { v: 2 } } ]
                    expect: [ { log: { rule: hot } } ]
                """,
            ])
        let good = try runWeir(["check", "--config", fixture.config.path], in: fixture.dir)
        #expect(good.status == 0, "\(good.output)")
        #expect(
            good.output.contains("1 rule(s), 0 scheduled rule(s), 0 function(s) in 1 file(s)"),
            "the test file is no rule file: \(good.output)")
        #expect(good.output.contains("ok, 1 rule test case(s) in 1 test file(s)"), "\(good.output)")

        try """
        cases:
          - name: broken
            given: [ { topic: t/a, payload: { v: 2 } } ]
            stub: { nowhere: { output: {} } }
            expect: [ { log: { rule: cold } } ]
        """.write(to: fixture.rules.appendingPathComponent("hot.test.yaml"), atomically: true, encoding: .utf8)
        let bad = try runWeir(["check", "--config", fixture.config.path], in: fixture.dir)
        #expect(bad.status == 1)
        #expect(bad.output.contains("hot.test.yaml:4:13: stub for unknown function 'nowhere' (functions: none declared)"), "\(bad.output)")
        // The unit's check before a start leaves the tests out: a broken test must not stop the daemon.
        let unit = try runWeir(["check", "--skip-tests", "--config", fixture.config.path], in: fixture.dir)
        #expect(unit.status == 0, "\(unit.output)")
        #expect(!unit.output.contains("test"), "\(unit.output)")
        let run = try runWeir(["test", "--config", fixture.config.path], in: fixture.dir)
        #expect(run.status == 1)
        #expect(run.output.contains("error(s) in rule tests"), "\(run.output)")
    }
}
