import WeirCore

/// Walks a compiled tree for one event. Null propagates (SQL three-valued logic); type mismatches
/// are `EvaluationError`s naming the types.
enum Evaluator {
    static func evaluate(_ node: SQLNode, _ context: EvaluationContext) throws(EvaluationError) -> JSONValue {
        switch node {
        case .literal(let value):
            return value
        case .path(let first, let segments):
            return resolve(first, segments, in: context.payload)
        case .call(let name, _, _):
            throw EvaluationError("function '\(name)' was not compiled")
        case .aggregateRef(let index):
            return index < context.aggregates.count ? context.aggregates[index] : .null
        case .groupKeyRef(let index):
            return index < context.groupKeys.count ? context.groupKeys[index] : .null
        case .windowStart:
            return context.window.map { .int($0.start) } ?? .null
        case .windowEnd:
            return context.window.map { .int($0.end) } ?? .null
        case .allRows:
            throw EvaluationError("'*' outside count(*)")
        case .function(let function, let args, _):
            return try callFunction(function, args, context)
        case .cast(let value, let type):
            return try convert(try evaluate(value, context), to: type)
        case .negate(let operand, _):
            switch try evaluate(operand, context) {
            case .null: return .null
            case .int(let i):
                guard i != .min else { throw EvaluationError("integer overflow in negation") }
                return .int(-i)
            case .double(let d): return .double(-d)
            case let other: throw EvaluationError("cannot negate \(other.typeName)")
            }
        case .not(let operand, _):
            switch try evaluate(operand, context) {
            case .null: return .null
            case .bool(let b): return .bool(!b)
            case let other: throw EvaluationError("NOT needs a bool, got \(other.typeName)")
            }
        case .binary(let op, let left, let right, _):
            return try binary(op, left, right, context)
        case .inList(let operand, let list, let negated):
            let value = try evaluate(operand, context)
            if value.isNull { return .null }
            var sawNull = false
            for item in list {
                let candidate = try evaluate(item, context)
                if candidate.isNull {
                    sawNull = true
                } else if sqlEqual(value, candidate) {
                    return .bool(!negated)
                }
            }
            return sawNull ? .null : .bool(negated)
        case .between(let operand, let low, let high, let negated, _):
            let value = try evaluate(operand, context)
            let lowValue = try evaluate(low, context)
            let highValue = try evaluate(high, context)
            let above = try compare(value, lowValue).map { $0 >= 0 }
            let below = try compare(value, highValue).map { $0 <= 0 }
            let inside = and(above, below)
            return inside.map { .bool($0 != negated) } ?? .null
        case .like(let operand, let patternNode, let negated, _):
            let value = try evaluate(operand, context)
            let pattern = try evaluate(patternNode, context)
            if value.isNull || pattern.isNull { return .null }
            guard case .string(let text) = value, case .string(let p) = pattern else {
                throw EvaluationError("LIKE needs strings, got \(value.typeName) LIKE \(pattern.typeName)")
            }
            return .bool(LikePattern(p).matches(text) != negated)
        case .likeCompiled(let operand, let pattern, let negated, _):
            let value = try evaluate(operand, context)
            if value.isNull { return .null }
            guard case .string(let text) = value else { throw EvaluationError("LIKE needs a string, got \(value.typeName)") }
            return .bool(pattern.matches(text) != negated)
        case .isNull(let operand, let negated):
            return .bool(try evaluate(operand, context).isNull != negated)
        case .searchedCase(let branches, let otherwise):
            for (condition, result) in branches {
                if case .bool(true) = try evaluate(condition, context) { return try evaluate(result, context) }
            }
            return try otherwise.map { (n) throws(EvaluationError) in try evaluate(n, context) } ?? .null
        case .simpleCase(let subject, let branches, let otherwise):
            let value = try evaluate(subject, context)
            if !value.isNull {
                for (candidate, result) in branches where sqlEqual(value, try evaluate(candidate, context)) {
                    return try evaluate(result, context)
                }
            }
            return try otherwise.map { (n) throws(EvaluationError) in try evaluate(n, context) } ?? .null
        case .regexMatch(let operand, let regex, _):
            let value = try evaluate(operand, context)
            if value.isNull { return .null }
            guard case .string(let text) = value else { throw EvaluationError("regex_match needs a string, got \(value.typeName)") }
            return .bool(try regex.matches(text))
        case .statefulRef(let index):
            return index < context.stateful.count ? context.stateful[index] : .null
        case .over:
            throw EvaluationError("OVER outside a stateful function")
        case .lookup(let table, let keyNode, let column, _):
            return table.value(for: try evaluate(keyNode, context), column: column)
        case .regexReplace(let operand, let regex, let replacementNode, _):
            let value = try evaluate(operand, context)
            let replacement = try evaluate(replacementNode, context)
            if value.isNull || replacement.isNull { return .null }
            guard case .string(let text) = value, case .string(let r) = replacement else {
                throw EvaluationError("regex_replace needs strings, got \(value.typeName) and \(replacement.typeName)")
            }
            return .string(try regex.replace(in: text, with: r))
        }
    }

    /// The value at a payload path; null where any step is missing.
    static func resolve(_ first: String, _ segments: [PathSegment], in payload: JSONValue) -> JSONValue {
        guard var value = payload[first] else { return .null }
        for segment in segments {
            switch segment {
            case .key(let key): value = value[key] ?? .null
            case .index(let index): value = value[index] ?? .null
            }
        }
        return value
    }

    /// SQL AND on optional booleans (nil is unknown).
    static func and(_ a: Bool?, _ b: Bool?) -> Bool? {
        if a == false || b == false { return false }
        if a == nil || b == nil { return nil }
        return true
    }

    static func truth(_ value: JSONValue, _ op: String) throws(EvaluationError) -> Bool? {
        switch value {
        case .null: return nil
        case .bool(let b): return b
        default: throw EvaluationError("\(op) needs bools, got \(value.typeName)")
        }
    }

    /// Equality for `=`, IN and CASE: numbers compare numerically, other types must match.
    static func sqlEqual(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue {
            if case .int(let i) = a, case .int(let j) = b { return i == j }
            return x == y
        }
        return a == b
    }

    /// Ordering for `<` and friends: nil when either side is null; an error across types.
    static func compare(_ a: JSONValue, _ b: JSONValue) throws(EvaluationError) -> Int? {
        if a.isNull || b.isNull { return nil }
        if case .int(let i) = a, case .int(let j) = b { return i < j ? -1 : (i > j ? 1 : 0) }
        if let x = a.doubleValue, let y = b.doubleValue { return x < y ? -1 : (x > y ? 1 : 0) }
        if case .string(let s) = a, case .string(let t) = b { return s < t ? -1 : (s > t ? 1 : 0) }
        if case .bool(let p) = a, case .bool(let q) = b { return p == q ? 0 : (!p ? -1 : 1) }
        throw EvaluationError("cannot compare \(a.typeName) with \(b.typeName)")
    }
}
