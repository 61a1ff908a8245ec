import WeirCore
import WeirRules

/// `weir explain`: a dry run like `weir test` that says why, rule by rule: whether FROM matched,
/// what each term of WHERE came to (and which fields were missing), the row, and for a windowed
/// rule the group and the window the event would join.
public enum Explain {
    /// The report for one message. Rules whose FROM does not match are summed up in one line,
    /// unless `rule` names one of them.
    public static func report(
        rules: RuleSet, topic: String, payload: [UInt8], qos: Int = 0, rule only: String? = nil, now: Int64 = currentTimeMillis(),
        maxPayloadBytes: Int = 256 * 1024
    ) -> String {
        let event = Event(topic: topic, payload: payload, qos: qos, receivedAt: now)
        let outcome = rules.process(event, maxPayloadBytes: maxPayloadBytes, keepStatefulValues: true)
        let candidates = Set(rules.candidates(for: topic).map(\.name))
        var lines: [String] = []
        let selected = rules.rules.filter { only == nil || $0.name == only }
        if let only, selected.isEmpty { return "no rule named '\(only)'" }
        let others = selected.filter { !candidates.contains($0.name) }
        for rule in others where only != nil {
            lines.append("rule \(rule.name) (\(rule.location)): FROM \(filters(rule)) does not match topic '\(topic)'")
        }
        let tooLarge = outcome.payloadErrorReason == "too_large"
        if tooLarge, let error = outcome.payloadError { lines.append("payload rejected before any rule ran: \(error)") }
        var views = PayloadViews(payload)
        for rule in selected where candidates.contains(rule.name) {
            lines.append("rule \(rule.name) (\(rule.location)):")
            lines.append("  FROM \(filters(rule)): matches '\(topic)'" + (rule.enabled ? "" : " (the rule is disabled)"))
            guard !tooLarge else { continue }
            let context: EvaluationContext
            switch views.context(rule.payloadFormat, event) {
            case .success(let made): context = made
            case .failure(let rejection):
                lines.append("  payload rejected (format: \(rule.payloadFormat.rawValue)): \(rejection.message)")
                continue
            }
            let stateful = outcome.statefulValues[rule.name] ?? []
            for (spec, value) in zip(rule.query.stateful, stateful) {
                lines.append("  \(spec.text) = \(value) (a dry run: every partition starts empty)")
            }
            lines += whereLines(rule.query.explainWhere(context, sql: rule.sql, stateful: stateful))
            if let failure = outcome.failures.first(where: { $0.rule == rule.name }) {
                lines.append("  error: \(failure.error) (counted in weir_rule_errors_total; the event is skipped for this rule)")
            } else if let match = outcome.matches.first(where: { $0.rule.name == rule.name }) {
                lines.append("  row: \(JSONValue.object(match.row))")
                for action in rule.actions {
                    lines.append("  action: \(DryRun.describe(action, row: match.row, functions: rules.functions))")
                }
            } else if let input = outcome.windowInputs.first(where: { $0.rule.name == rule.name }) {
                lines += windowLines(rule, input, now: now)
            }
        }
        if only == nil, !others.isEmpty {
            lines.append("\(others.count) other rule(s): FROM does not match topic '\(topic)' (--rule NAME shows one)")
        }
        if candidates.isEmpty && only == nil { lines.insert("no rule subscribes to topic '\(topic)'", at: 0) }
        return lines.joined(separator: "\n")
    }

    static func filters(_ rule: Rule) -> String {
        rule.query.topicFilters.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    static func whereLines(_ explanation: WhereExplanation) -> [String] {
        guard !explanation.conjuncts.isEmpty else { return ["  WHERE: none (every event passes)"] }
        var lines = ["  WHERE: " + (explanation.holds ? "holds" : "does not hold")]
        for conjunct in explanation.conjuncts {
            let result: String
            switch conjunct.outcome {
            case .isTrue: result = "true"
            case .isFalse: result = "false"
            case .isNull(let missing):
                result = missing.isEmpty ? "null" : "null (missing or null: \(missing.joined(separator: ", ")))"
            case .error(let message): result = "error: \(message)"
            }
            lines.append("    \(conjunct.text): \(result)")
        }
        return lines
    }

    static func windowLines(_ rule: Rule, _ input: WindowInput, now: Int64) -> [String] {
        guard let grouping = rule.query.grouping else { return [] }
        var lines = ["  group: \(JSONValue.array(input.keys))"]
        guard let window = grouping.window else {
            lines.append("  no window: the group's row comes out when the rule emits its groups")
            return lines
        }
        let at = rfc3339(millis: input.time)
        switch window {
        case .tumbling(let size):
            let start = floorDiv(input.time, size) * size
            lines.append("  window: \(window), the one from \(rfc3339(millis: start)) to \(rfc3339(millis: start + size)) (event at \(at))")
        case .hopping(let size, let hop):
            let last = floorDiv(input.time, hop) * hop
            let first = last - ((size - 1) / hop) * hop
            let starts = stride(from: first, through: last, by: Int(hop)).filter { $0 + size > input.time }
            let spans = starts.map { "\(rfc3339(millis: $0)) to \(rfc3339(millis: $0 + size))" }
            lines.append("  window: \(window), \(starts.count) of them (event at \(at)): \(spans.joined(separator: "; "))")
        case .sliding(let size):
            lines.append("  window: \(window), the events of the \(size) ms up to \(at)")
        case .session(let gap, _):
            lines.append("  window: \(window): extends the group's open session, or opens one closing \(gap) ms after \(at) without events")
        case .count(let size, _):
            lines.append("  window: \(window): counts toward the group's next \(size) events")
        }
        if case .event(let field, let lateness, _) = rule.timeMode, window.isTimeBased {
            let closes = windowEnd(window, input.time)
            // The watermark is the largest event time seen minus the lateness; with events up to now
            // it would be now - lateness.
            let late = closes.map { $0 <= now - lateness } ?? false
            lines.append(
                "  event time from '\(field)': \(at); allowed lateness \(lateness) ms: "
                    + (late
                        ? "late if the daemon has seen events up to now (its window closed): counted, and the rule's late actions run"
                        : "on time"))
        }
        lines.append("  a row per group comes out when the window closes; actions: \(rule.actions.map(\.kind).joined(separator: ", "))")
        return lines
    }

    /// When the last window the event joins closes, for time windows with fixed bounds.
    static func windowEnd(_ window: WindowSpec, _ time: Int64) -> Int64? {
        switch window {
        case .tumbling(let size): return floorDiv(time, size) * size + size
        case .hopping(let size, let hop): return floorDiv(time, hop) * hop + size
        case .sliding(let size): return time + size
        case .session(let gap, _): return time + gap
        case .count: return nil
        }
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
