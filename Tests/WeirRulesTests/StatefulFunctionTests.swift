import Testing
import WeirCore

@testable import WeirRules

/// `changed`, `lag`, `latest`, `delta` and `rate` over partitions, against a reference model that
/// recomputes every answer from the partition's whole history.
@Suite struct StatefulFunctionTests {
    /// The reference: answers from the full history of one partition, as the docs define them.
    struct Model {
        var values: [(value: JSONValue, n: JSONValue, time: Int64)] = []
        var reported: (value: JSONValue, time: Int64)?

        mutating func step(_ value: JSONValue, _ n: JSONValue, time: Int64, deadband: Double, silence: Int64) -> JSONObject {
            var row = JSONObject()
            row["l1"] = values.last?.value ?? .null
            row["l2"] = values.count >= 2 ? values[values.count - 2].value : "none"
            row["lt"] = value.isNull ? (values.last { !$0.value.isNull }?.value ?? .null) : value
            if let previous = values.last(where: { !$0.n.isNull }), let a = n.doubleValue, let b = previous.n.doubleValue {
                if case .int(let x) = n, case .int(let y) = previous.n { row["d"] = .int(x - y) } else { row["d"] = .double(a - b) }
                row["r"] = time > previous.time ? .double((a - b) / (Double(time - previous.time) / 1000)) : .null
            } else {
                row["d"] = .null
                row["r"] = .null
            }
            var change = false
            if !value.isNull {
                if let reported {
                    if let a = value.doubleValue, let b = reported.value.doubleValue {
                        change = abs(a - b) >= deadband
                    } else {
                        change = value != reported.value
                    }
                    change = change || time - reported.time >= silence
                } else {
                    change = true
                }
                if change { reported = (value, time) }
            }
            row["c"] = .bool(change)
            values.append((value, n, time))
            return row
        }
    }

    static let sql = """
        SELECT device, lag(v) OVER (PARTITION BY device) AS l1, lag(v, 2, 'none') OVER (PARTITION BY device) AS l2,
          latest(v) OVER (PARTITION BY device) AS lt, delta(n) OVER (PARTITION BY device) AS d,
          rate(n) OVER (PARTITION BY device) AS r, changed(v, 0.5, 5s) OVER (PARTITION BY device) AS c
        FROM "t"
        """

    func ruleSet(_ sql: String) throws -> RuleSet {
        let rule = Rule(
            name: "r", sql: sql, query: try CompiledQuery(sql: sql), actions: [], location: SourceLocation(file: "t", line: 1, column: 1))
        return RuleSet(rules: [rule])
    }

    @Test(arguments: [1, 2, 3, 4, 5])
    func randomSequencesMatchTheModel(seed: UInt64) throws {
        var random = SeededGenerator(state: seed)
        let set = try ruleSet(Self.sql)
        let states = PartitionStates()
        var models: [String: Model] = [:]
        var time: Int64 = 1_000_000
        for step in 0..<2_000 {
            let device = "d\(random.next() % 4)"
            time += Int64(random.next() % 3) * 1000  // repeated times too: rate is then null
            // Slow walks with nulls, missing fields, a string and a bool now and then.
            let v: JSONValue? =
                switch random.next() % 10 {
                case 0: .null
                case 1: nil
                case 2: "hot"
                case 3: .bool(step % 2 == 0)
                case 4, 5: .int(Int64(random.next() % 5))
                default: .double(Double(random.next() % 40) / 10)
                }
            let n: JSONValue = random.next() % 5 == 0 ? .null : .int(Int64(random.next() % 100))
            var payload = JSONObject()
            payload["device"] = .string(device)
            if let v { payload["v"] = v }
            payload["n"] = n
            let outcome = set.process(Event(topic: "t", payload: JSONWriter.bytes(.object(payload)), receivedAt: time), partitions: states)
            let row = try #require(outcome.matches.first?.row, "step \(step): \(outcome.failures)")
            var expected: JSONObject = ["device": .string(device)]
            for (key, value) in models[device, default: Model()].step(v ?? .null, n, time: time, deadband: 0.5, silence: 5000).pairs {
                expected[key] = value
            }
            #expect(row == expected, "seed \(seed) step \(step) device \(device) v \(String(describing: v)) n \(n)")
            if row != expected { return }
        }
    }

    @Test func theSameCallInWhereAndSelectIsOneCall() throws {
        let set = try ruleSet(
            #"SELECT v, changed(v, 1) OVER (PARTITION BY d) AS c, lag(v) OVER (PARTITION BY d) AS p FROM "t""#
                + " WHERE changed(v, 1) OVER (PARTITION BY d)")
        #expect(set.rules[0].query.stateful.count == 2)
        let states = PartitionStates()
        func send(_ v: Double) -> JSONObject? {
            set.process(Event(topic: "t", payload: Array(#"{"d":"a","v":\#(v)}"#.utf8), receivedAt: 0), partitions: states).matches.first?
                .row
        }
        #expect(send(10) == ["v": 10.0, "c": true, "p": nil])
        #expect(send(10.5) == nil, "within the deadband of the last reported 10")
        #expect(send(10.9) == nil, "still within 1 of 10: not of the previous reading")
        // lag sees the events WHERE dropped: the previous reading is 10.9.
        #expect(send(11) == ["v": 11.0, "c": true, "p": 10.9])
    }

    @Test func mistakesArePositioned() {
        func error(_ sql: String) -> String {
            do {
                _ = try CompiledQuery(sql: sql)
                return "compiled"
            } catch {
                return "\(error.offset): \(error.message)"
            }
        }
        #expect(error(#"SELECT changed(v) FROM "t""#) == "7: function 'changed' takes 2...3 arguments, got 1")
        #expect(error(#"SELECT changed(v, 'x') FROM "t""#) == "7: changed's deadband must be a number of at least 0")
        #expect(error(#"SELECT changed(v, 1, 5) FROM "t""#) == "7: changed's max_silence must be a duration such as 30s, 5m or 1h")
        #expect(error(#"SELECT lag(v, 0) FROM "t""#) == "7: lag's n must be a whole number from 1 to 1000")
        #expect(error(#"SELECT upper(v) OVER (PARTITION BY d) FROM "t""#).hasPrefix("16: OVER (PARTITION BY …) applies to"))
        #expect(
            error(#"SELECT d, count(*) FROM "t" GROUP BY d, TUMBLING(10s) HAVING lag(d) = 1"#).hasSuffix(
                "'lag' is a stateful function, for rules without GROUP BY"))
        #expect(error(#"SELECT lag(v) OVER (PARTITION d) FROM "t""#).contains("expected BY after PARTITION"))
        #expect(error(#"SELECT changed(v, 0.5, 5m) OVER () AS c FROM "t""#) == "compiled")
    }

    @Test func partitionsAreBoundedAndForgottenLeastRecentFirst() throws {
        var rule = Rule(
            name: "r", sql: "", query: try CompiledQuery(sql: #"SELECT lag(v) OVER (PARTITION BY d) AS p FROM "t""#), actions: [],
            location: SourceLocation(file: "t", line: 1, column: 1))
        rule.maxPartitions = 10
        let set = RuleSet(rules: [rule])
        let states = PartitionStates()
        func send(_ d: Int, _ v: Int) -> JSONValue? {
            set.process(Event(topic: "t", payload: Array(#"{"d":\#(d),"v":\#(v)}"#.utf8), receivedAt: 0), partitions: states)
                .matches.first?.row["p"]
        }
        for d in 0..<10 { _ = send(d, 1) }
        _ = send(0, 2)  // device 0 is the most recent now
        _ = send(10, 1)  // the 11th partition: down to 9, the least recent forgotten
        #expect(states.counts().first?.partitions == 9)
        #expect(states.counts().first?.evicted == 2)
        #expect(send(0, 3) == 2, "device 0 was kept")
        #expect(send(1, 2) == .null, "device 1 was forgotten: its next reading is its first")
        // The checkpointer sees every change, forgotten partitions as deletions.
        let changes = states.takeChanges()
        #expect(changes.contains { $0.partition == "[1]" && $0.state != nil })
        #expect(changes.contains { $0.partition == "[2]" && $0.state == nil })
        #expect(states.takeChanges().isEmpty)
    }

    @Test func aReloadKeepsPartitionsOnlyWhenTheCallsAreUnchanged() throws {
        func rules(_ sql: String, name: String = "r") throws -> RuleSet {
            RuleSet(rules: [
                Rule(
                    name: name, sql: sql, query: try CompiledQuery(sql: sql), actions: [],
                    location: SourceLocation(file: "t", line: 1, column: 1))
            ])
        }
        let first = try rules(#"SELECT lag(v) OVER (PARTITION BY d) AS p FROM "t""#)
        let states = PartitionStates()
        #expect(states.sync(with: first).map(\.rule) == ["r"], "a new rule: its saved state is reset")
        func send(_ set: RuleSet, _ v: Int) -> JSONValue? {
            set.process(Event(topic: "t", payload: Array(#"{"d":1,"v":\#(v)}"#.utf8), receivedAt: 0), partitions: states)
                .matches.first?.row["p"]
        }
        _ = send(first, 1)
        // Another FROM, the same call: the partitions stay.
        let same = try rules(#"SELECT lag(v) OVER (PARTITION BY d) AS p FROM "t""#)
        #expect(states.sync(with: same).isEmpty)
        #expect(send(same, 2) == 1)
        // Another partition: a new layout, started empty (and its saved state reset).
        let changed = try rules(#"SELECT lag(v) OVER (PARTITION BY d, v) AS p FROM "t""#)
        #expect(states.sync(with: changed).map(\.rule) == ["r"])
        #expect(send(changed, 3) == .null)
        // A removed rule's state goes, and its saved state is reset with no signature.
        let removed = states.sync(with: try rules(#"SELECT v FROM "t""#, name: "other"))
        #expect(removed.count == 1 && removed[0].rule == "r" && removed[0].signature == nil)
        #expect(states.counts().isEmpty)
    }
}
