import Testing
import WeirCore

@testable import WeirRules

@Suite struct SQLParserTests {
    @Test func parsesTheIssueExample() throws {
        let q = try CompiledQuery(sql: #"SELECT device, temp, topic(2) AS site FROM "sensors/+/telemetry" WHERE temp > 80"#)
        #expect(q.topicFilters == ["sensors/+/telemetry"])
        #expect(q.filterOffsets == [44])
        #expect(q.columnNames == ["device", "temp", "site"])
        #expect(!q.selectsStar)
    }

    @Test func defaultColumnNames() throws {
        let q = try CompiledQuery(sql: #"SELECT a.b[0].c, a[1], upper(x), 1 + 2, `odd-name` FROM "t""#)
        #expect(q.columnNames == ["c", "a", "upper", "col4", "odd-name"])
    }

    @Test func multipleFiltersAndStar() throws {
        let q = try CompiledQuery(sql: #"select *, topic() as t from "a/#", "b/+""#)
        #expect(q.topicFilters == ["a/#", "b/+"])
        #expect(q.selectsStar)
        #expect(q.columnNames == ["t"])
    }

    @Test(arguments: [
        (#"SELECT a "t""#, "expected FROM after select list", 9),
        (#"SELECT a FROM t"#, "expected a double-quoted topic filter after FROM", 14),
        (#"SELECT a FROM "t" WHERE"#, "unexpected end of SQL", 23),
        (#"SELECT a FROM "t" WHERE (a > 1"#, "expected ')'", 30),
        (#"SELECT foo(a) FROM "t""#, "unknown function 'foo'", 7),
        (#"SELECT substr(a) FROM "t""#, "function 'substr' takes 2 or 3 arguments, got 1", 7),
        (#"SELECT lower() FROM "t""#, "function 'lower' takes 1 argument, got 0", 7),
        (#"SELECT 'abc FROM "t""#, "unterminated string", 7),
        (#"SELECT a FROM "t" WHERE a = )"#, "unexpected ')'", 28),
        (
            #"SELECT device, temp FROM "t" GROUP BY device, TUMBLING(10s)"#,
            "column 'temp' uses 'temp', which is neither aggregated nor a GROUP BY key", 15
        ),
        (#"SELECT avg(t) FROM "t""#, "aggregate 'avg' needs GROUP BY", 7),
        (#"SELECT count(*) FROM "t" GROUP BY TUMBLING(10)"#, "the window size needs a unit", 43),
        (#"SELECT count(*) FROM "t" GROUP BY TUMBLING(9223372036854775s)"#, "the window size must be a positive duration", 43),
        (#"SELECT count(*) FROM "t" GROUP BY TUMBLING(36501d)"#, "the window size must be a positive duration", 43),
        (#"SELECT window_start() FROM "t""#, "window_start() needs a window in GROUP BY", 7),
        (#"SELECT percentile(v, 150) AS p FROM "t" GROUP BY TUMBLING(1s)"#, "percentile(x, p) needs a constant p between 0 and 100", 7),
        (#"SELECT max(avg(v)) AS m FROM "t" GROUP BY TUMBLING(1s)"#, "aggregates cannot be nested", 11),
        (#"SELECT a FROM "t" HAVING a > 1"#, "HAVING needs a GROUP BY", 18),
        (
            #"SELECT topic(2) AS s, count(*) AS n FROM "t" GROUP BY TUMBLING(1s)"#,
            "column 's': topic() is neither aggregated nor a GROUP BY key", 7
        ),
        (#"SELECT a FROM "t" WHERE a = "x""#, "double quotes are for topic filters", 28),
        (#"SELECT a FROM "t" WHERE a IS 3"#, "expected NULL after IS", 29),
        (#"SELECT CASE a END FROM "t""#, "CASE needs at least one WHEN", 14),
        (#"SELECT cast(a AS blob) FROM "t""#, "unknown type in CAST", 17),
        (#"SELECT a FROM "t" extra"#, "unexpected extra", 18),
        (#"SELECT a ? b FROM "t""#, "unexpected character '?'", 9),
        (#"SELECT regex_match(a, '(') FROM "t""#, "invalid regular expression", 7),
    ])
    func errorsHavePositions(sql: String, message: String, offset: Int) {
        #expect {
            try CompiledQuery(sql: sql)
        } throws: { error in
            guard let error = error as? SQLError else { return false }
            return error.message.hasPrefix(message) && error.offset == offset
        }
    }

    @Test func lineAndColumnCountsCharacters() {
        let sql = "SELECT a,\n  é + \n FROM"
        let error = SQLError("x", at: Array("SELECT a,\n  é + \n ".utf8).count)
        #expect(error.lineAndColumn(in: sql) == (3, 2))
        #expect(SQLError("x", at: 0).lineAndColumn(in: sql) == (1, 1))
    }

    @Test func deepNestingIsRejectedNotCrashed() {
        let sql = "SELECT " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + #" FROM "t""#
        #expect(throws: SQLError.self) { try CompiledQuery(sql: sql) }
    }

    /// Operator chains count toward the depth bound (their trees are as deep as they are long), but
    /// a long, real rule fits well inside it.
    @Test func longOperatorChainsUpToTheBoundEvaluate() throws {
        let devices = (0..<300).map { "device = 'd\($0)'" }.joined(separator: " OR ")
        let q = try CompiledQuery(sql: "SELECT device FROM \"t\" WHERE (" + devices + ") AND -+-1 = 1")
        #expect(try q.evaluate(EvaluationContext(payload: ["device": "d299"], topic: "t")) == ["device": "d299"])
        #expect(try q.evaluate(EvaluationContext(payload: ["device": "x"], topic: "t")) == nil)
        let sum = (0..<600).map { _ in "1" }.joined(separator: " + ")
        let error = #expect(throws: SQLError.self) { try CompiledQuery(sql: "SELECT " + sum + " AS s FROM \"t\"") }
        #expect(error?.message.contains("too long a chain of operators") == true)
    }

    @Test func commentsAndCaseInsensitiveKeywords() throws {
        let q = try CompiledQuery(sql: "select a -- the value\n from \"t\" where a is not null")
        #expect(try q.evaluate(EvaluationContext(payload: ["a": 1], topic: "t")) == ["a": 1])
        #expect(try q.evaluate(EvaluationContext(payload: [:], topic: "t")) == nil)
    }
}
