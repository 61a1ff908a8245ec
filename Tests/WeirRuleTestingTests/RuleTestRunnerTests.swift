import Testing
import WeirCore
import WeirRuleTesting
import WeirRules

/// A rule set from one rule file's text.
func ruleSet(_ text: String) throws -> RuleSet {
    let parsed = RuleLoader.parseFile(text, file: "rules.yaml")
    if let first = parsed.diagnostics.first { throw first }
    return RuleSet(
        rules: parsed.rules, functions: Dictionary(uniqueKeysWithValues: parsed.functions.map { ($0.name, $0) }),
        schedules: parsed.schedules)
}

/// Runs a test file's text against `rules` and returns its case results.
func runCases(_ test: String, rules: RuleSet) async throws -> [CaseResult] {
    let file = try RuleTestParser.parse(test, file: "t.test.yaml", rules: rules)
    return await RuleTestRunner(rules: rules).run(file)
}

/// The rules, windows and schedules on the virtual clock: when things happen, not only whether.
@Suite struct RuleTestRunnerTests {
    @Test func aTumblingWindowClosesAtItsEndAndNotBefore() async throws {
        let rules = try ruleSet(
            """
            name: avg
            sql: SELECT device, avg(t) AS t, count(*) AS n FROM "s/+" GROUP BY device, TUMBLING(10s)
            actions: [ { forward: cloud } ]
            """)
        let results = try await runCases(
            """
            cases:
              - name: closes at 10s
                given:
                  - { at: 1s, topic: s/a, payload: { device: d1, t: 1 } }
                  - { at: 9.5s, topic: s/a, payload: { device: d1, t: 2 } }
                  - { at: 10s, topic: s/a, payload: { device: d1, t: 7 } }
                until: 25s
                exactly: true
                expect:
                  - forward: { row: { device: d1, t: 1.5, n: 2 }, at: 10s }
                  - forward: { row: { t: 7, n: 1 }, at: 20s }
            """, rules: rules)
        #expect(results.map(\.passed) == [true], "\(results.flatMap(\.failures).map(\.message))")
    }

    @Test func eventTimeLateEventsRunTheLateActionsAndIdleWindowsCloseOnTheClock() async throws {
        let rules = try ruleSet(
            """
            name: vib
            sql: SELECT machine, max(rms) AS peak FROM "m/+" GROUP BY machine, TUMBLING(10s)
            event_time: { field: ts, lateness: 2s, idle_timeout: 30s }
            actions: [ { forward: cloud } ]
            late: [ { publish: { topic: "late/${machine}" } } ]
            """)
        let results = try await runCases(
            """
            start: 2026-01-01T00:00:00Z
            cases:
              - name: late and idle
                given:
                  - { at: 0s, topic: m/1, payload: { machine: m1, rms: 1, ts: "2026-01-01T00:00:01Z" } }
                  - { at: 1s, topic: m/1, payload: { machine: m1, rms: 2, ts: "2026-01-01T00:00:13Z" } }
                  - { at: 2s, topic: m/1, payload: { machine: m1, rms: 9, ts: "2026-01-01T00:00:03Z" } }
                until: 2m
                expect:
                  - forward: { row: { machine: m1, peak: 1 }, at: 1s }
                  - late: { rule: vib, row: { rms: 9 }, at: 2s }
                  - publish: { topic: late/m1, payload: { rms: 9 }, at: 2s }
                  - forward: { row: { peak: 2 }, at: 31s }
                expect_none:
                  - forward: { at: 30s }
            """, rules: rules)
        // The second window [10s, 20s) closes when the watermark reaches 20 s. The watermark is
        // 13 s - 2 s until the rule has been idle for 30 s (since the last accepted event, at 1 s;
        // the late one does not count), then runs with the clock: at 31 s it is 11 s + 30 s.
        #expect(results.map(\.passed) == [true], "\(results.flatMap(\.failures).map { "\($0.message) \($0.differences)" })")
    }

    @Test func schedulesFireOnTheVirtualClockEveryAndCron() async throws {
        let rules = try ruleSet(
            """
            rules:
              - name: tick
                schedule: "*/15 * * * *"
                actions: [ { log: {} } ]
              - name: daily
                schedule: every 1d
                actions: [ { publish: { topic: daily } } ]
            """)
        let results = try await runCases(
            """
            cases:
              - name: an hour and two days
                until: 2d
                expect:
                  - log: { rule: tick, at: 15m, row: { scheduled_at: "2026-01-01T00:15:00.000Z" } }
                  - log: { rule: tick, at: 1h }
                  - publish: { topic: daily, at: 0s }
                  - publish: { topic: daily, at: 1d }
                  - publish: { topic: daily, at: 2d }
                expect_none:
                  - log: { at: 0s }
                  - log: { at: 20m }
            """, rules: rules)
        #expect(results.map(\.passed) == [true], "\(results.flatMap(\.failures).map(\.message))")
        #expect(results[0].happenings.filter { $0.kind == .log }.count == 2 * 96)
    }

    @Test func publishedMessagesComeBackToTheRulesAndLoopsStop() async throws {
        let rules = try ruleSet(
            """
            rules:
              - name: first
                sql: SELECT v FROM "in/a"
                actions: [ { publish: { topic: mid/a } } ]
              - name: second
                sql: SELECT v + 1 AS v FROM "mid/+"
                actions: [ { forward: cloud } ]
              - name: echo
                sql: SELECT v FROM "loop/x"
                actions: [ { publish: { topic: loop/x } } ]
            """)
        let results = try await runCases(
            """
            cases:
              - name: through the broker
                given: [ { topic: in/a, payload: { v: 1 } } ]
                expect: [ { forward: { row: { v: 2 }, rule: second } } ]
              - name: a loop
                given: [ { topic: loop/x, payload: { v: 1 } } ]
                expect: [ { error: { rule: echo, message: publish loop } } ]
            """, rules: rules)
        #expect(results.map(\.passed) == [true, true], "\(results.flatMap(\.failures).map(\.message))")
        #expect(results[1].happenings.filter { $0.kind == .publish }.count == 17)
    }

    @Test func stubbedFunctionsEmitRetryAndDeadLetter() async throws {
        let rules = try ruleSet(
            """
            functions:
              - name: step
                exec: { command: ["/bin/false"] }
                emit: "next/${id}"
                retry: { attempts: 3, backoff: 2s, max_backoff: 3s }
              - name: again
                exec: { command: ["/bin/false"] }
                emit: "again"
            rules:
              - name: start
                sql: SELECT id FROM "go"
                actions: [ { call: step } ]
              - name: next
                sql: SELECT id FROM "next/+"
                actions: [ { log: {} } ]
              - name: spin
                sql: SELECT * FROM "again"
                actions: [ { call: again } ]
            """)
        let results = try await runCases(
            """
            cases:
              - name: emits
                stub: { step: { output: [ { id: a }, { id: b } ] } }
                given: [ { topic: go, payload: { id: x } } ]
                exactly: true
                expect:
                  - call: { function: step, output: [ { id: a }, { id: b } ] }
                  - log: { row: { id: a } }
                  - log: { row: { id: b } }
              - name: fails
                stub: { step: { error: boom } }
                given: [ { topic: go, payload: { id: x } } ]
                until: 1m
                expect:
                  - call: { error: boom, at: 0s }
                  - call: { error: boom, at: 2s }
                  - call: { error: boom, at: 5s }
                  - dead_letter: { kind: function, function: step, row: { id: x }, at: 5s }
              - name: hop limit
                stub: { again: { output: { n: 1 } } }
                given: [ { topic: again, payload: { n: 0 } } ]
                expect:
                  - error: { rule: spin, message: more than 8 function hops }
            """, rules: rules)
        #expect(results.map(\.passed) == [true, true, true], "\(results.flatMap(\.failures).map { "\($0.location) \($0.message)" })")
        #expect(results[2].happenings.filter { $0.kind == .emit }.count == 8)
    }

    @Test func expectationsThatDoNotHoldFailAndSayWhy() async throws {
        let rules = try ruleSet(
            """
            name: hot
            sql: SELECT device, temp FROM "s/+" WHERE temp > 80
            actions: [ { publish: { topic: "alerts/${device}" } }, { log: {} } ]
            """)
        let results = try await runCases(
            """
            cases:
              - name: several ways to fail
                given:
                  - { topic: s/a, payload: { device: d1, temp: 90 } }
                  - { at: 1s, topic: s/a, payload: { device: d2 } }
                exactly: true
                expect:
                  - publish: { topic: alerts/d1, payload: { temp: 91 } }
                  - forward: {}
                expect_none:
                  - log: {}
            """, rules: rules)
        let failures = results[0].failures
        #expect(
            failures.map(\.message).sorted() == [
                "'exactly: true', but this log is not expected",
                "'exactly: true', but this publish is not expected",
                "expected forward did not happen (no forward at all)",
                "expected publish did not happen",
                "unexpected log happened",
            ])
        let publish = failures.first { $0.message == "expected publish did not happen" }
        #expect(publish?.differences == [Mismatch(path: "payload.temp", expected: 91, actual: 90)])
        #expect(publish?.location == SourceLocation(file: "t.test.yaml", line: 8, column: 9))
        #expect(results[0].skips.map(\.description) == ["at 1s, rule hot did not take s/a: WHERE temp > 80 is null (temp missing or null)"])
        let text = RuleTestReport.text(results)
        #expect(text.contains("t.test.yaml:8:9: case 'several ways to fail': expected publish did not happen"))
        #expect(text.contains("      - payload.temp: 91\n      + payload.temp: 90"))
        #expect(text.contains("1 case(s) in 1 file(s): 0 passed, 1 failed"))
    }

    @Test func aCaseThatWouldRunForeverStops() async throws {
        let rules = try ruleSet(#"{ name: often, schedule: every 1s, actions: [ { log: {} } ] }"#)
        let results = try await runCases("cases: [ { name: a year, until: 365d, expect_none: [ { forward: {} } ] } ]", rules: rules)
        #expect(results[0].failures.map(\.message) == ["stopped after 100000 happenings (a schedule too frequent for 'until', or a loop?)"])
    }
}
