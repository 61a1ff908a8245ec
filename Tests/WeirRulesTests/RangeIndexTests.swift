import Testing
import WeirCore

@testable import WeirRules

@Suite struct RangeIndexTests {
    let helper = PredicateTests()

    @Test func groupFindsTheIntervalsContainingAValue() throws {
        func interval(_ lower: Double?, _ lowerInclusive: Bool, _ upper: Double?, _ upperInclusive: Bool) -> NumericInterval {
            NumericInterval(
                lower: lower.map { .init(value: $0, inclusive: lowerInclusive) },
                upper: upper.map { .init(value: $0, inclusive: upperInclusive) })
        }
        let group = try #require(
            RangeGroup(
                slot: 0,
                rules: [
                    (3, interval(0, false, 10, true)), (5, interval(10, false, 20, true)), (7, interval(nil, false, 10, false)),
                    (9, interval(5, true, 5, true)), (11, interval(20, true, 1, true)),
                ]))
        #expect(Array(group.matching(-100)) == [7])
        #expect(Array(group.matching(0)) == [7])
        #expect(Array(group.matching(0.5)) == [3, 7])
        #expect(Array(group.matching(5)) == [3, 7, 9])
        #expect(Array(group.matching(10)) == [3])
        #expect(Array(group.matching(10.01)) == [5])
        #expect(Array(group.matching(20)) == [5])
        #expect(Array(group.matching(21)) == [])
    }

    @Test func onlyConjunctionsOfNumericComparisonsOnOnePathAreIntervals() throws {
        func interval(_ clause: String) throws -> NumericInterval? {
            var table = FieldTable()
            let query = try CompiledQuery(sql: "SELECT * FROM \"t\" WHERE \(clause)")
            return NumericInterval.of(Predicate.compile(query.whereClause!, &table))?.interval
        }
        #expect(
            try interval("temp > 1 AND temp <= 2")
                == NumericInterval(lower: .init(value: 1, inclusive: false), upper: .init(value: 2, inclusive: true)))
        #expect(
            try interval("3 > temp AND temp >= 3")
                == NumericInterval(lower: .init(value: 3, inclusive: true), upper: .init(value: 3, inclusive: false)))
        #expect(try interval("temp BETWEEN -1 AND 2.5")?.lower == .init(value: -1, inclusive: true))
        #expect(try interval("temp > 1 OR temp < 0") == nil)
        #expect(try interval("temp > 1 AND x < 2") == nil)
        #expect(try interval("temp != 1") == nil)
        #expect(try interval("temp > 'a'") == nil)
        #expect(try interval("temp > 9007199254740993") == nil)
        #expect(try interval("temp NOT BETWEEN 1 AND 2") == nil)
    }

    /// Indexed rules interleaved with others: the same rows, errors and order as the interpreter.
    @Test func indexedRuleSetsAgreeWithTheInterpreter() throws {
        let bounds = ["0", "1", "2", "2.5", "-1", "3", "10", "7", "9007199254740992"]
        let operators = [">", ">=", "<", "<=", "="]
        for seed in 0..<30 {
            var rng = SeededGenerator(state: UInt64(seed) &+ 1000)
            var fuzzer = PredicateFuzzer(rng: SeededGenerator(state: UInt64(seed)))
            var rules: [Rule] = []
            for index in 0..<80 {
                let clause: String
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: clause = "temp BETWEEN \(bounds.randomElement(using: &rng)!) AND \(bounds.randomElement(using: &rng)!)"
                case 1: clause = "\(bounds.randomElement(using: &rng)!) \(operators.randomElement(using: &rng)!) temp"
                case 2: clause = fuzzer.clause()
                default:
                    let first = "temp \(operators.randomElement(using: &rng)!) \(bounds.randomElement(using: &rng)!)"
                    clause = "\(first) AND temp \(operators.randomElement(using: &rng)!) \(bounds.randomElement(using: &rng)!)"
                }
                let from = index % 7 == 0 ? "\"t/+\", \"t/x\"" : "\"t/+\""
                rules.append(try helper.rule("r\(index)", "SELECT temp FROM \(from) WHERE \(clause)"))
            }
            let set = RuleSet(rules: rules)
            #expect(!set.ranges.groups.isEmpty)
            let temps: [JSONValue?] = [
                nil, .null, .int(2), .double(2.5), .double(-0.5), .int(9_007_199_254_740_993), .int(9_007_199_254_740_992), .string("hot"),
                .bool(true),
                .double(1e300), .int(-1), .int(10), .double(7.000001),
            ]
            for temp in temps {
                var object = fuzzer.payload().objectValue ?? JSONObject()
                object["temp"] = temp
                let bytes = Array(JSONValue.object(object).description.utf8)
                let outcome = set.process(Event(topic: "t/x", payload: bytes, receivedAt: 5))
                let expected = helper.interpreted(rules, try JSONParser.parse(bytes))
                #expect(outcome.matches.map { "\($0.rule.name) \(JSONValue.object($0.row))" } == expected.matches, "seed \(seed) \(object)")
                #expect(outcome.failures.map { "\($0.rule): \($0.error)" } == expected.failures, "seed \(seed) \(object)")
            }
        }
    }
}
