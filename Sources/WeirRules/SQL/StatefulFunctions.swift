import WeirCore

/// The functions with memory per partition: `changed`, `lag`, `latest`, `delta`, `rate`, each
/// optionally `OVER (PARTITION BY expr, …)` (without it, the rule is one partition).
public enum StatefulKind: String, Sendable, CaseIterable {
    case changed, lag, latest, delta, rate

    static func named(_ name: String) -> StatefulKind? { StatefulKind(rawValue: name.lowercased()) }

    /// The accepted argument counts.
    var arity: ClosedRange<Int> {
        switch self {
        case .changed: return 2...3
        case .lag: return 1...3
        case .latest, .delta, .rate: return 1...1
        }
    }
}

/// One stateful call of a rule, compiled: its arguments and partition expressions. Calls written
/// the same way (function, arguments and partition) are one call: one state, one value per
/// event, wherever they appear in the rule.
public struct StatefulSpec: Sendable {
    public let kind: StatefulKind
    let arguments: [SQLNode]
    let partition: [SQLNode]
    /// The call as written (normalised), for sharing equal calls and for the saved-state signature.
    public let text: String
    let offset: Int
    /// `changed`'s `max_silence` in milliseconds (nil: none).
    let maxSilence: Int64?
}

extension SQLNode {
    /// A `changed`/`lag`/… call, with its partition when `OVER (PARTITION BY …)` follows.
    var statefulCall: (kind: StatefulKind, args: [SQLNode], partition: [SQLNode], offset: Int)? {
        switch self {
        case .over(.call(let name, let args, let offset), let partition, _):
            guard let kind = StatefulKind.named(name) else { return nil }
            return (kind, args, partition, offset)
        case .call(let name, let args, let offset):
            guard let kind = StatefulKind.named(name) else { return nil }
            return (kind, args, [], offset)
        default:
            return nil
        }
    }
}

enum StatefulCompiler {
    /// `node` with each stateful call replaced by a reference to its slot in `specs` (appended,
    /// or shared with an equal call already there).
    static func extract(_ node: SQLNode, into specs: inout [StatefulSpec]) throws(SQLError) -> SQLNode {
        if case .over(let inner, _, let offset) = node, node.statefulCall == nil {
            let name: String
            if case .call(let called, _, _) = inner { name = called } else { name = "an expression" }
            throw SQLError(
                "OVER (PARTITION BY …) applies to changed, lag, latest, delta and rate, not to \(name)", at: offset)
        }
        guard let call = node.statefulCall else {
            return try node.mapChildren { (child) throws(SQLError) in try extract(child, into: &specs) }
        }
        guard call.kind.arity.contains(call.args.count) else {
            throw SQLError(
                "function '\(call.kind.rawValue)' takes \(call.kind.arity.lowerBound)...\(call.kind.arity.upperBound) "
                    + "arguments, got \(call.args.count)", at: call.offset)
        }
        var arguments: [SQLNode] = []
        for argument in call.args {
            if argument.statefulCall != nil {
                throw SQLError("'\(call.kind.rawValue)' cannot take another stateful function as an argument", at: call.offset)
            }
            arguments.append(try Compiler.compile(argument))
        }
        var partition: [SQLNode] = []
        for key in call.partition { partition.append(try Compiler.compile(key)) }
        var maxSilence: Int64?
        if call.kind == .changed {
            guard case .literal(let deadband) = arguments[1], let width = deadband.doubleValue, width >= 0 else {
                throw SQLError("changed's deadband must be a number of at least 0", at: call.offset)
            }
            if arguments.count == 3 {
                guard case .literal(.string(let text)) = arguments[2], let millis = parseDurationText(text) else {
                    throw SQLError("changed's max_silence must be a duration such as 30s, 5m or 1h", at: call.offset)
                }
                maxSilence = millis
            }
        }
        if call.kind == .lag, arguments.count >= 2 {
            guard case .literal(.int(let n)) = arguments[1], (1...1000).contains(n) else {
                throw SQLError("lag's n must be a whole number from 1 to 1000", at: call.offset)
            }
        }
        let text =
            "\(call.kind.rawValue)(\(call.args.map(\.sqlText).joined(separator: ", ")))"
            + (call.partition.isEmpty ? "" : " OVER (PARTITION BY \(call.partition.map(\.sqlText).joined(separator: ", ")))")
        if let existing = specs.firstIndex(where: { $0.text == text }) { return .statefulRef(existing) }
        specs.append(
            StatefulSpec(
                kind: call.kind, arguments: arguments, partition: partition, text: text, offset: call.offset, maxSilence: maxSilence))
        return .statefulRef(specs.count - 1)
    }
}

/// `10s`, `500ms`, `5m`, `2h`, `1d`: milliseconds, or nil.
func parseDurationText(_ text: String) -> Int64? {
    guard let duration = parseDuration(text), duration > .zero else { return nil }
    return duration.milliseconds
}

extension SQLNode {
    /// A canonical text of a parsed expression: equal texts are equal expressions. Paths, literals
    /// and calls read as SQL (what `weir explain` shows); other expressions as their tree.
    var sqlText: String {
        switch self {
        case .path(let first, let segments):
            return segments.reduce(first) { text, segment in
                switch segment {
                case .key(let key): return text + "." + key
                case .index(let index): return text + "[\(index)]"
                }
            }
        case .literal(.string(let text)):
            return "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
        case .literal(let value): return JSONWriter.string(value)
        case .call(let name, let args, _): return "\(name.lowercased())(\(args.map(\.sqlText).joined(separator: ", ")))"
        default: return String(describing: self)
        }
    }
}
