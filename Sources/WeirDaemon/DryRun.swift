import WeirCore
import WeirRules

/// `weir test`: what the rules would do with one message, without connecting anywhere.
public enum DryRun {
    public static func report(rules: RuleSet, topic: String, payload: [UInt8], qos: Int = 0, maxPayloadBytes: Int = 256 * 1024) -> (
        text: String, matched: Int
    ) {
        let event = Event(topic: topic, payload: payload, qos: qos, receivedAt: currentTimeMillis())
        let outcome = rules.process(event, maxPayloadBytes: maxPayloadBytes)
        var lines: [String] = []
        if outcome.candidates == 0 {
            lines.append("no rule subscribes to topic '\(topic)'")
            return (lines.joined(separator: "\n"), 0)
        }
        // Rules of another format (text, binary) may still have run on a payload JSON rejects.
        for rejection in outcome.payloadErrors { lines.append("payload rejected: \(rejection.message)") }
        if !outcome.payloadErrors.isEmpty, outcome.matches.isEmpty, outcome.windowInputs.isEmpty, outcome.failures.isEmpty {
            return (lines.joined(separator: "\n"), 0)
        }
        for failure in outcome.failures {
            lines.append("rule \(failure.rule): error: \(failure.error)")
        }
        let matchedNames = Set(outcome.matches.map(\.rule.name) + outcome.windowInputs.map(\.rule.name))
        for rule in rules.candidates(for: topic)
        where !matchedNames.contains(rule.name) && !outcome.failures.contains(where: { $0.rule == rule.name }) {
            lines.append("rule \(rule.name): topic matches, WHERE does not")
        }
        for match in outcome.matches {
            lines.append("rule \(match.rule.name): matched")
            lines.append("  row: \(JSONValue.object(match.row))")
            for action in match.rule.actions {
                lines.append("  action: \(describe(action, row: match.row, functions: rules.functions))")
            }
        }
        for input in outcome.windowInputs {
            let window = input.rule.query.grouping?.window.map(\.description) ?? "window"
            lines.append("rule \(input.rule.name): matched; goes into its \(window) window")
            lines.append("  group: \(JSONValue.array(input.keys)), at \(rfc3339(millis: input.time))")
            lines.append(
                "  a row per group is emitted when the window closes; actions: \(input.rule.actions.map(\.kind).joined(separator: ", "))")
        }
        return (lines.joined(separator: "\n"), outcome.matches.count + outcome.windowInputs.count)
    }

    static func describe(_ action: ActionSpec, row: JSONObject, functions: [String: FunctionSpec] = [:]) -> String {
        switch action {
        case .publish(let topic, let qos, let retain):
            let rendered: String
            do {
                rendered = try topic.renderTopic(row)
            } catch {
                return "publish would fail: \(error)"
            }
            return "publish to '\(rendered)' qos=\(qos) retain=\(retain)"
        case .log(let level):
            return "log at \(level.rawValue)"
        case .forward(let upstream, let priority):
            return "forward to upstream '\(upstream)'" + (priority == .normal ? "" : " (priority \(priority))")
        case .call(let function):
            let how: String
            switch functions[function]?.runtime {
            case .exec(let program)?: how = "started as \(program.command[0]), the row as JSON on stdin"
            case .worker(let program)?: how = "sent to a worker of \(program.command[0])"
            case .http(let call)?: how = "POSTed to \(call.url)"
            case nil: how = "not declared"
            }
            let emit = functions[function]?.emit.map { ", its output emitted on '\($0.text)'" } ?? ""
            return "call function '\(function)' (\(how)\(emit); not run in a dry run)"
        }
    }
}
