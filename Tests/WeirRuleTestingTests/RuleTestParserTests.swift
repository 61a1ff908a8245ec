import Testing
import WeirCore
import WeirRuleTesting
import WeirRules

/// Test files are operators' files: every mistake is a diagnostic at its line and column.
@Suite struct RuleTestParserTests {
    static let rules = """
        functions:
          - name: f
            exec: { command: ["/bin/true"] }
        rules:
          - name: r
            sql: SELECT * FROM "t/+"
            actions: [ { call: f } ]
        """

    func diagnostics(_ test: String) throws -> [String] {
        let rules = try ruleSet(Self.rules)
        do {
            _ = try RuleTestParser.parse(test, file: "x.test.yaml", rules: rules)
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func payloadsAndRowsAreTypedAsYAMLCoreScalars() throws {
        let file = try RuleTestParser.parse(
            """
            cases:
              - name: types
                given:
                  - { topic: t/a, payload: { i: 20, d: 20.5, e: 1e3, b: true, n: null, s: d1, q: "20", neg: -3 } }
                  - { at: 1.5s, topic: t/a, payload: '{"raw": 1}' }
                  - { at: 2s, topic: t/a, payload: 23.5 }
                expect: [ { call: { row: { i: 20 } } } ]
            """, file: "x.test.yaml", rules: try ruleSet(Self.rules))
        let given = file.cases[0].given
        #expect(
            String(decoding: given[0].payload, as: UTF8.self)
                == #"{"i":20,"d":20.5,"e":1000.0,"b":true,"n":null,"s":"d1","q":"20","neg":-3}"#)
        #expect(String(decoding: given[1].payload, as: UTF8.self) == #"{"raw": 1}"#, "a quoted string is the payload's text as it is")
        #expect(given[1].at == 1500)
        #expect(String(decoding: given[2].payload, as: UTF8.self) == "23.5")
        #expect(file.cases[0].start == RuleTestParser.defaultStart)
        #expect(file.cases[0].until == 2000, "until defaults to the last event")
    }

    @Test func mistakesPointAtTheirPlace() throws {
        #expect(try diagnostics("cases: []") == ["x.test.yaml:1:8: 'cases' is empty: a test file needs a case"])
        #expect(
            try diagnostics("cases:\n  - name: a\n    given: [ { topic: t/a } ]\n    expext: []")
                == [
                    "x.test.yaml:4:5: unknown key 'expext' in a case (expected one of: description, exactly, expect, "
                        + "expect_none, given, name, rules, start, stub, until)"
                ])
        #expect(
            try diagnostics("cases:\n  - name: a\n    given: [ { at: 5s, topic: t/a } ]\n    until: 2s\n    expect: [ { log: {} } ]")
                == ["x.test.yaml:4:12: 'until' (2s) is before the last event (at 5s)"])
        #expect(
            try diagnostics("cases:\n  - name: a\n    given: [ { topic: t/+ } ]\n    expect: [ { log: {} } ]")
                == ["x.test.yaml:3:23: 'topic' must be a topic name (no wildcards), found 't/+'"])
        #expect(
            try diagnostics("cases:\n  - name: a\n    given: [ { topic: t/a } ]\n    expect: [ { shout: {} } ]")
                == [
                    "x.test.yaml:4:15: an item of 'expect' is one of publish, forward, log, call, emit, dead_letter, late, invalid, error, "
                        + "as '- publish: { topic: … }'"
                ])
        #expect(
            try diagnostics("cases:\n  - name: a\n    given: [ { topic: t/a } ]\n    expect: [ { publish: { topic: a, upstream: b } } ]")
                .first?.hasPrefix("x.test.yaml:4:38: unknown key 'upstream' in 'publish'") == true)
        #expect(
            try diagnostics("cases:\n  - name: a\n    given: [ { topic: t/a } ]\n    expect: [ { log: { rule: nope } } ]")
                == ["x.test.yaml:4:15: no rule named 'nope'"])
        #expect(
            try diagnostics("stub: { g: { output: 1 } }\ncases:\n  - name: a\n    given: [ { topic: t/a } ]\n    expect: [ { log: {} } ]")
                == ["x.test.yaml:1:9: stub for unknown function 'g' (functions: f)"])
        #expect(
            try diagnostics("cases:\n  - name: a\n    expect: [ { log: {} } ]")
                == ["x.test.yaml:2:5: case 'a' has no 'given' events and no 'until': nothing would happen"])
        #expect(
            try diagnostics(
                "cases:\n  - { name: a, until: 1s, expect: [ { log: {} } ] }\n  - { name: a, until: 1s, expect: [ { log: {} } ] }")
                == ["x.test.yaml:3:5: duplicate case name 'a' (first at x.test.yaml:2:5)"])
        #expect(
            try diagnostics("start: yesterday\ncases: [ { name: a, until: 1s, expect: [ { log: {} } ] } ]") == [
                "x.test.yaml:1:8: 'start' must be an RFC 3339 time such as 2026-01-01T00:00:00Z"
            ])
    }

    @Test func eachBrokenCaseIsReportedNotOnlyTheFirst() throws {
        let found = try diagnostics(
            "cases:\n  - { name: a, until: 1q, expect: [ { log: {} } ] }\n  - { name: b, until: 1s, rules: [zz], expect: [ { log: {} } ] }")
        #expect(
            found == [
                "x.test.yaml:2:23: 'until' must be a duration such as 10s or 61d, found '1q'", "x.test.yaml:3:35: no rule named 'zz'",
            ])
    }
}
