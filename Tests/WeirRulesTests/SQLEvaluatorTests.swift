import Testing
import WeirCore

@testable import WeirRules

/// Evaluates `SELECT <expr> AS v FROM "t"` against `payload` and returns `v`.
func eval(_ expr: String, _ payload: JSONValue = [:], topic: String = "a/b/c") throws -> JSONValue {
    let q = try CompiledQuery(sql: "SELECT \(expr) AS v FROM \"#\"")
    return try q.evaluate(EvaluationContext(payload: payload, topic: topic, qos: 1, timestamp: 1_700_000_000_000))?["v"] ?? .null
}

func evalError(_ expr: String, _ payload: JSONValue = [:]) -> String? {
    do {
        _ = try eval(expr, payload)
        return nil
    } catch let error as EvaluationError {
        return error.message
    } catch {
        return "\(error)"
    }
}

@Suite struct SQLEvaluatorTests {
    let payload: JSONValue = ["a": ["b": [["c": 7]]], "s": "Hello", "n": 3, "x": 2.5, "t": true, "z": nil]

    @Test func paths() throws {
        #expect(try eval("a.b[0].c", payload) == 7)
        #expect(try eval("a.b[1].c", payload) == .null)
        #expect(try eval("s.nope", payload) == .null)
        #expect(try eval("missing", payload) == .null)
        #expect(try eval("a['b'][0].c", payload) == 7)
    }

    @Test func arithmeticKeepsIntsAndPromotes() throws {
        #expect(try eval("n + 1", payload) == .int(4))
        #expect(try eval("n * x", payload) == .double(7.5))
        #expect(try eval("n / 2", payload) == .double(1.5))
        #expect(try eval("6 / 3") == .int(2))
        #expect(try eval("7 % 4") == .int(3))
        #expect(try eval("7.5 % 2") == .double(1.5))
        #expect(try eval("-n", payload) == .int(-3))
        #expect(try eval("2 + 3 * 4") == .int(14))
        #expect(try eval("(2 + 3) * 4") == .int(20))
        #expect(try eval("missing + 1", payload) == .null)
        #expect(evalError("1 / 0") == "division by zero")
        #expect(evalError("9223372036854775807 + 1")?.hasPrefix("integer overflow") == true)
        #expect(evalError("s + 1", payload) == "cannot apply '+' to string and int")
    }

    @Test func comparisonsAndEquality() throws {
        #expect(try eval("n = 3.0", payload) == true)
        #expect(try eval("n <> 3", payload) == false)
        #expect(try eval("s = 'Hello'", payload) == true)
        #expect(try eval("s = 3", payload) == false, "different types are unequal, not an error")
        #expect(try eval("s != 3", payload) == true)
        #expect(try eval("'a' < 'b'") == true)
        #expect(try eval("x >= 2.5", payload) == true)
        #expect(try eval("missing > 1", payload) == .null)
        #expect(evalError("s > 80", payload) == "cannot compare string with int")
    }

    @Test func threeValuedLogic() throws {
        #expect(try eval("missing > 1 AND false", payload) == false)
        #expect(try eval("missing > 1 AND true", payload) == .null)
        #expect(try eval("missing > 1 OR true", payload) == true)
        #expect(try eval("missing > 1 OR false", payload) == .null)
        #expect(try eval("NOT (missing > 1)", payload) == .null)
        #expect(try eval("NOT t", payload) == false)
        #expect(evalError("NOT 5") == "NOT needs a bool, got int")
        #expect(evalError("1 AND true") == "AND needs bools, got int")
        #expect(try eval("false AND 1 > 'x'") == false, "AND short-circuits")
    }

    @Test func whereNullOrFalseDoesNotMatch() throws {
        let q = try CompiledQuery(sql: #"SELECT * FROM "t" WHERE temp > 80"#)
        #expect(try q.evaluate(EvaluationContext(payload: ["temp": 81], topic: "t")) == ["temp": 81])
        #expect(try q.evaluate(EvaluationContext(payload: ["temp": 80], topic: "t")) == nil)
        #expect(try q.evaluate(EvaluationContext(payload: [:], topic: "t")) == nil)
    }

    @Test func inBetweenLikeIsNull() throws {
        #expect(try eval("n IN (1, 2, 3)", payload) == true)
        #expect(try eval("n NOT IN (1, 2)", payload) == true)
        #expect(try eval("n IN (1, null)", payload) == .null)
        #expect(try eval("s IN ('x', 'Hello')", payload) == true)
        #expect(try eval("n BETWEEN 1 AND 3", payload) == true)
        #expect(try eval("n NOT BETWEEN 1 AND 3", payload) == false)
        #expect(try eval("x BETWEEN 3 AND 4", payload) == false)
        #expect(try eval("s LIKE 'He%'", payload) == true)
        #expect(try eval("s LIKE 'h%'", payload) == false)
        #expect(try eval("s LIKE 'H_llo'", payload) == true)
        #expect(try eval("s NOT LIKE '%lo'", payload) == false)
        #expect(try eval("'50%' LIKE '50\\%'") == true)
        #expect(try eval("'abc' LIKE s", payload) == false)
        #expect(try eval("z IS NULL", payload) == true)
        #expect(try eval("missing IS NULL", payload) == true)
        #expect(try eval("s IS NOT NULL", payload) == true)
        #expect(evalError("n LIKE 'x'", payload) == "LIKE needs a string, got int")
    }

    @Test func caseExpressions() throws {
        #expect(try eval("CASE WHEN n > 5 THEN 'big' WHEN n > 1 THEN 'mid' ELSE 'small' END", payload) == "mid")
        #expect(try eval("CASE WHEN n > 5 THEN 'big' END", payload) == .null)
        #expect(try eval("CASE n WHEN 1 THEN 'one' WHEN 3 THEN 'three' ELSE 'other' END", payload) == "three")
        #expect(try eval("CASE missing WHEN 1 THEN 'one' ELSE 'none' END", payload) == "none")
    }

    @Test func contextFunctions() throws {
        #expect(try eval("topic()", topic: "sensors/s1/telemetry") == "sensors/s1/telemetry")
        #expect(try eval("topic(2)", topic: "sensors/s1/telemetry") == "s1")
        #expect(try eval("topic(4)", topic: "sensors/s1/telemetry") == .null)
        #expect(try eval("topic(2)", topic: "a//c") == "")
        #expect(try eval("timestamp()") == .int(1_700_000_000_000))
        #expect(try eval("qos()") == 1)
    }

    @Test func selectStarMergesAndLaterColumnsWin() throws {
        let q = try CompiledQuery(sql: ##"SELECT *, n * 10 AS n, topic(1) AS t FROM "#""##)
        let row = try q.evaluate(EvaluationContext(payload: ["n": 1, "m": 2], topic: "x/y"))
        #expect(row == ["n": 10, "m": 2, "t": "x"])
        let scalar = try CompiledQuery(sql: ##"SELECT * FROM "#""##).evaluate(EvaluationContext(payload: 5, topic: "x"))
        #expect(scalar == ["payload": 5])
    }
}
