import Foundation
import Testing
import WeirCore

@testable import WeirRules

@Suite struct ScheduleParsingTests {
    /// 2026-01-01T00:00:00Z, a Thursday.
    static let start: Int64 = 1_767_225_600_000

    func next(_ cron: String, after: String) throws -> String? {
        let schedule = try Schedule(parsing: cron)
        let time = try #require(parseRFC3339(after))
        return schedule.next(after: time).map { rfc3339(millis: $0) }
    }

    @Test(arguments: [
        ("*/15 * * * *", "2026-01-01T00:07:00Z", "2026-01-01T00:15:00.000Z"),
        ("0 3 * * *", "2026-01-01T03:00:00Z", "2026-01-02T03:00:00.000Z"),
        ("0 3 * * *", "2026-01-01T02:59:59Z", "2026-01-01T03:00:00.000Z"),
        ("30 2 1 * *", "2026-01-15T00:00:00Z", "2026-02-01T02:30:00.000Z"),
        ("0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00.000Z"),
        ("0 9 * * mon-fri", "2026-01-02T10:00:00Z", "2026-01-05T09:00:00.000Z"),
        ("0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00.000Z"),
        ("0 0 13 * 5", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.000Z"),  // day 13 OR a Friday
        ("0 12 * jun *", "2026-01-01T00:00:00Z", "2026-06-01T12:00:00.000Z"),
        ("5,10-12/2 * * * *", "2026-01-01T00:06:00Z", "2026-01-01T00:10:00.000Z"),
        ("@daily", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.000Z"),
        ("0 0 */2 * *", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00.000Z"),  // odd days: a step is not "every day"
        ("0 0 */2 * 1", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00.000Z"),  // an odd day AND a Monday (a '*' field ANDs)
        ("0 0 1-7 * */7", "2026-01-08T00:00:00Z", "2026-02-01T00:00:00.000Z"),  // '*/7' is Sunday only, ANDed: first Sunday of Feb
        ("@hourly", "2026-12-31T23:30:00Z", "2027-01-01T00:00:00.000Z"),
    ])
    func cronFindsTheNextMinute(cron: String, after: String, expected: String) throws {
        #expect(try next(cron, after: after) == expected)
    }

    @Test func intervalsCountFromTheLastRunAndRunAtFirstStart() throws {
        let schedule = try Schedule(parsing: "every 60d")
        #expect(schedule.next(after: Self.start) == Self.start + 60 * 86_400_000)
        #expect(schedule.firstRun(now: Self.start) == Self.start)
        #expect(schedule.due(lastRun: nil, now: Self.start) == Self.start)
        #expect(schedule.due(lastRun: Self.start - 86_400_000, now: Self.start) == Self.start + 59 * 86_400_000)
        #expect(
            schedule.due(lastRun: Self.start + 365 * 86_400_000, now: Self.start) == Self.start + 60 * 86_400_000,
            "a run recorded in the future (a clock that was ahead) counts as now")
        #expect(try Schedule(parsing: "0 3 * * *").firstRun(now: Self.start) == Self.start + 3 * 3_600_000)
        #expect(try Schedule(parsing: "0 0 * * *").firstRun(now: Self.start) == Self.start, "a cron slot at exactly now is due now")
    }

    @Test func aCronThatNeverMatchesHasNoNextRun() throws {
        #expect(try next("0 0 31 2 *", after: "2026-01-01T00:00:00Z") == nil)
    }

    @Test(arguments: [
        ("every 0s", "'every' needs a duration", 6),
        ("every soon", "'every' needs a duration", 6),
        ("* * * *", "5 fields", 0),
        ("61 * * * *", "minute: 61 is outside 0-59", 0),
        ("0 24 * * *", "hour: 24 is outside 0-23", 2),
        ("0 0 * 13 *", "month: 13 is outside 1-12", 6),
        ("0 0 * * funday", "day of week: 'funday' is not a number", 8),
        ("*/0 * * * *", "minute: step '0' must be a positive number", 0),
        ("0 5-3 * * *", "hour: range '5-3' runs backwards", 2),
    ])
    func badSchedulesSayWhatAndWhere(text: String, message: String, offset: Int) {
        #expect(throws: ScheduleError.self) { try Schedule(parsing: text) }
        do {
            _ = try Schedule(parsing: text)
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.offset == offset)
        }
    }

    @Test func scheduledRulesLoadBesideEventRules() throws {
        let text = """
            functions:
              - name: rotate
                exec: { command: ["/bin/true"] }
            rules:
              - name: nightly
                schedule: "0 3 * * *"
                actions:
                  - call: rotate
                  - publish: { topic: "jobs/${schedule}" }
              - name: events
                sql: SELECT * FROM "a/#"
                actions: [ { log: {} } ]
            """
        let parsed = RuleLoader.parseFile(text, file: "r.yaml")
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.rules.map(\.name) == ["events"])
        let scheduled = try #require(parsed.schedules.first)
        #expect(scheduled.name == "nightly" && scheduled.schedule.description == "0 3 * * *")
        #expect(scheduled.callSites.map(\.function) == ["rotate"])
        let row = scheduled.row(for: 1_767_236_400_000)
        #expect(row == ["scheduled_at": "2026-01-01T03:00:00.000Z", "schedule": "0 3 * * *"])
        // Not in the topic index: nothing subscribes for a scheduled rule.
        #expect(RuleSet(rules: parsed.rules, schedules: parsed.schedules).topicFilters == ["a/#"])
    }

    @Test func scheduledRuleMistakesPointAtTheirPlace() {
        #expect(diagnostics("name: s\nschedule: \"0 25 * * *\"\nactions: [ { log: {} } ]") == ["2:14: hour: 25 is outside 0-23"])
        #expect(
            diagnostics("name: s\nschedule: \"0 0 31 2 *\"\nactions: [ { log: {} } ]")
                == ["2:11: schedule '0 0 31 2 *' never matches (no such day in any month or year)"])
        #expect(
            diagnostics("name: s\nschedule: every 1d\nsql: SELECT * FROM \"a\"\nactions: [ { log: {} } ]")
                == ["2:11: a rule has either 'sql' (triggered by events) or 'schedule' (triggered by time), not both"])
        #expect(
            diagnostics("name: s\nschedule: every 1d\nactions: [ { publish: { topic: \"x/${device}\" } } ]")
                == ["3:32: '${device}' is not an output column of the rule (columns: scheduled_at, schedule)"])
    }

    @Test func emitTopicsAreCheckedWhereTheyAreWritten() {
        let base = "functions:\n  - name: f\n    exec: { command: [\"/bin/cat\"] }\n"
        #expect(diagnostics(base + "    emit: \"a/+/b\"") == ["4:11: an emit topic cannot contain the wildcards '+' or '#'"])
        #expect(diagnostics(base + "    emit: \"a/${x\"").first?.hasPrefix("4:11:") == true)
    }

    @Test func relativeProgramsAreRelativeToTheRuleFile() throws {
        let text = "functions:\n  - name: f\n    exec: { command: [\"./bin/f.sh\", \"./arg\"], cwd: ../work }\n"
        let function = try #require(RuleLoader.parseFile(text, file: "/etc/weir/rules/examples/x.yaml").functions.first)
        guard case .exec(let program) = function.runtime else {
            Issue.record("not exec")
            return
        }
        #expect(program.command == ["/etc/weir/rules/examples/bin/f.sh", "./arg"], "only the program is resolved; arguments are data")
        #expect(program.directory == "/etc/weir/rules/work")
    }
}
