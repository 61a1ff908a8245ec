import Testing
import WeirCore

@testable import WeirRules

/// A small deterministic generator, so that a failing case can be reproduced from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random WHERE clauses and payloads over a few shared paths: numbers, strings, bools, nulls,
/// missing fields, nested paths, and expressions only the interpreter handles.
struct PredicateFuzzer {
    var rng: SeededGenerator
    let paths = ["temp", "name", "flag", "a.b", "a.c[0]", "a.c[1]", "missing", "x"]
    let literals = ["0", "1", "-3", "2.5", "10", "-0.5", "'hot'", "'a'", "true", "false", "null", "9007199254740993"]
    let operators = ["=", "!=", "<", "<=", ">", ">="]

    mutating func pick(_ items: [String]) -> String { items.randomElement(using: &rng)! }

    mutating func atom() -> String {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...2: return "\(pick(paths)) \(pick(operators)) \(pick(literals))"
        case 3: return "\(pick(literals)) \(pick(operators)) \(pick(paths))"
        case 4: return "\(pick(paths)) \(pick(["", "NOT "]))BETWEEN \(pick(literals)) AND \(pick(literals))"
        case 5: return "\(pick(paths)) IS \(pick(["", "NOT "]))NULL"
        case 6: return pick(paths)
        case 7: return "\(pick(paths)) + 1 \(pick(operators)) \(pick(literals))"
        case 8: return "\(pick(paths)) IN (1, 'hot', null)"
        default: return "\(pick(literals)) \(pick(operators)) \(pick(literals))"
        }
    }

    mutating func clause(depth: Int = 3) -> String {
        guard depth > 0, Int.random(in: 0..<3, using: &rng) > 0 else { return atom() }
        switch Int.random(in: 0..<5, using: &rng) {
        case 0, 1: return "(\(clause(depth: depth - 1)) AND \(clause(depth: depth - 1)))"
        case 2, 3: return "(\(clause(depth: depth - 1)) OR \(clause(depth: depth - 1)))"
        default: return "NOT (\(clause(depth: depth - 1)))"
        }
    }

    mutating func scalar() -> JSONValue? {
        switch Int.random(in: 0..<9, using: &rng) {
        case 0: return nil
        case 1: return .null
        case 2: return .int(Int64.random(in: -5...12, using: &rng))
        case 3: return .double(Double(Int.random(in: -20...40, using: &rng)) / 4)
        case 4: return .string(pick(["hot", "a", "b", ""]))
        case 5: return .bool(Bool.random(using: &rng))
        case 6: return .int(9_007_199_254_740_993)
        case 7: return .array([.int(1)])
        default: return .int(Int64.random(in: 0...2, using: &rng))
        }
    }

    mutating func payload() -> JSONValue {
        if Int.random(in: 0..<12, using: &rng) == 0 { return .array([.int(1)]) }
        var object = JSONObject()
        for key in ["temp", "name", "flag", "x"] { if let value = scalar() { object[key] = value } }
        var nested = JSONObject()
        if let value = scalar() { nested["b"] = value }
        if Bool.random(using: &rng) { nested["c"] = .array([scalar() ?? .null]) }
        object["a"] = Bool.random(using: &rng) ? .object(nested) : (scalar() ?? .null)
        return .object(object)
    }
}

@Suite struct PredicateTests {
    func rule(_ name: String, _ sql: String) throws -> Rule {
        Rule(name: name, sql: sql, query: try CompiledQuery(sql: sql), actions: [], location: SourceLocation(file: "t", line: 1, column: 1))
    }

    /// The interpreter's outcome for one event: each rule's row or error, in rule order.
    func interpreted(_ rules: [Rule], _ payload: JSONValue) -> (matches: [String], failures: [String]) {
        let context = EvaluationContext(payload: payload, topic: "t/x", qos: 0, timestamp: 5)
        var matches: [String] = []
        var failures: [String] = []
        for rule in rules {
            do {
                if let row = try rule.query.evaluate(context) { matches.append("\(rule.name) \(JSONValue.object(row))") }
            } catch {
                failures.append("\(rule.name): \(error.message)")
            }
        }
        return (matches, failures)
    }

    @Test func compiledPredicatesAgreeWithTheInterpreter() throws {
        for seed in 0..<40 {
            var fuzzer = PredicateFuzzer(rng: SeededGenerator(state: UInt64(seed)))
            var rules: [Rule] = []
            for index in 0..<60 {
                rules.append(try rule("r\(index)", "SELECT temp, a.b AS b FROM \"t/+\" WHERE \(fuzzer.clause())"))
            }
            let set = RuleSet(rules: rules)
            for _ in 0..<40 {
                let payload = fuzzer.payload()
                let outcome = set.process(Event(topic: "t/x", payload: Array(payload.description.utf8), receivedAt: 5))
                let expected = interpreted(rules, try JSONParser.parse(Array(payload.description.utf8)))
                #expect(
                    outcome.matches.map { "\($0.rule.name) \(JSONValue.object($0.row))" } == expected.matches, "seed \(seed) \(payload)")
                #expect(outcome.failures.map { "\($0.rule): \($0.error)" } == expected.failures, "seed \(seed) \(payload)")
            }
        }
    }

    @Test func sharedPathsAreInternedOnce() throws {
        let set = RuleSet(rules: [
            try rule("a", #"SELECT * FROM "t" WHERE temp > 1 AND temp <= 2"#),
            try rule("b", #"SELECT * FROM "t" WHERE temp > 2 AND a.b[0] IS NULL"#),
            try rule("c", #"SELECT * FROM "t" WHERE abs(temp) > 2"#),
        ])
        #expect(set.fieldTable.paths.map(\.first) == ["temp", "a"])
        guard case .and(.compare, .compare) = set.predicates[0] else {
            Issue.record("not compiled: \(String(describing: set.predicates[0]))")
            return
        }
        guard case .general = set.predicates[2] else {
            Issue.record("abs() should stay interpreted")
            return
        }
    }

    @Test func negativeLiteralsAreConstants() throws {
        var table = FieldTable()
        let query = try CompiledQuery(sql: #"SELECT * FROM "t" WHERE temp > -3 AND temp BETWEEN -2.5 AND 4"#)
        guard
            case .and(.compare(_, .greater, .int(-3), true), .between(_, .double(-2.5), .int(4), false)) =
                Predicate.compile(query.whereClause!, &table)
        else {
            Issue.record("not compiled")
            return
        }
    }
}
