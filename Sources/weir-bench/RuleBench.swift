import ArgumentParser
import Foundation
import WeirCore
import WeirRules

/// Component figure: many rules on one topic, evaluated in this process without the daemon.
/// `interpreted` runs each candidate rule through `CompiledQuery.evaluate` (the evaluation before
/// compiled predicates and the range index); `process` is the rule set's own path. Run it under
/// `valgrind --tool=callgrind --toggle-collect='*RuleBench*drive*'` for instructions per event.
struct RuleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "Component: N rules with numeric range WHEREs on one topic (rule evaluations/s).")

    @Option(help: "Rules on the topic.") var rules = 1000
    @Option(help: "Events routed.") var events = 20_000
    @Option(help: "interpreted or process.") var mode = "process"
    @Option(help: "range: WHERE temp > a AND temp <= b; mixed: the same AND device != 'none' (two paths: compiled, not indexed).")
    var shape = "range"

    func run() throws {
        var list: [Rule] = []
        for i in 0..<rules {
            let extra = shape == "mixed" ? " AND device != 'none'" : ""
            let sql = "SELECT device, temp FROM \"bench/+/tele\" WHERE temp > \(i) AND temp <= \(i + 1)\(extra)"
            list.append(
                Rule(
                    name: "r\(i)", sql: sql, query: try CompiledQuery(sql: sql), actions: [.log(level: .debug)],
                    location: SourceLocation(file: "bench", line: 1, column: 1)))
        }
        let set = RuleSet(rules: list)
        let payloads = (0..<events).map { i in
            Array(
                String(
                    format: "{\"device\":\"d%d\",\"seq\":%d,\"temp\":%.2f}", i % 100, i,
                    Double(i) * 7.31.truncatingRemainder(dividingBy: Double(rules - 1)) + 0.5
                ).utf8)
        }
        let start = ContinuousClock.now
        let matched = Self.drive(set, payloads, interpreted: mode == "interpreted")
        let seconds =
            Double((ContinuousClock.now - start).components.attoseconds) / 1e18 + Double((ContinuousClock.now - start).components.seconds)
        print(
            String(
                format: "component rules: mode=%@ shape=%@ rules=%d events=%d matched=%d events/s=%.0f rule_evals/s=%.0f", mode, shape,
                rules, events,
                matched, Double(events) / seconds, Double(events) * Double(rules) / seconds))
    }

    /// The measured loop: every event through every candidate rule. Returns the rows produced.
    @inline(never)
    static func drive(_ set: RuleSet, _ payloads: [[UInt8]], interpreted: Bool) -> Int {
        var matched = 0
        for payload in payloads {
            let event = Event(topic: "bench/dev/tele", payload: payload, receivedAt: 0)
            if interpreted {
                guard let value = try? JSONParser.parse(payload) else { continue }
                let context = EvaluationContext(payload: value, topic: event.topic, qos: event.qos, timestamp: event.receivedAt)
                for rule in set.candidates(for: event.topic) where (try? rule.query.evaluate(context)) ?? nil != nil { matched += 1 }
            } else {
                matched += set.process(event).matches.count
            }
        }
        return matched
    }
}
