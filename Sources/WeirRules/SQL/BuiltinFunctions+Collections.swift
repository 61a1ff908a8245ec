import WeirCore

extension Evaluator {
    /// Padding adds at most this many characters: a count from a payload cannot exhaust memory.
    static let maxPadding: Int64 = 65_536

    /// String padding and search, object and array access.
    static func callCollections(_ function: BuiltinFunction, _ args: [JSONValue]) throws(EvaluationError) -> JSONValue {
        let name = function.rawValue
        switch function {
        case .lpad, .rpad:
            // AWS IoT and eKuiper: the count of characters added (not a total width); negative adds none.
            let s = try string(args[0], name)
            let count = try integer(args[1], name)
            guard count <= maxPadding else { throw EvaluationError("\(name) adds at most \(maxPadding) characters, got \(count)") }
            let pad = args.count == 3 ? try string(args[2], name) : " "
            guard !pad.isEmpty else { throw EvaluationError("\(name) needs a non-empty pad string") }
            // Only as many copies of a long pad as the count needs, then cut to the count.
            let wanted = Int(max(count, 0))
            let copies = (wanted + pad.count - 1) / pad.count
            let padding = String(String(repeating: pad, count: copies).prefix(wanted))
            return .string(function == .lpad ? padding + s : s + padding)
        case .indexof:
            // 0-based index in characters, -1 when absent (AWS IoT, eKuiper).
            let s = try string(args[0], name)
            let needle = try string(args[1], name)
            guard let range = s.firstRange(of: needle) else { return .int(-1) }
            return .int(Int64(s.distance(from: s.startIndex, to: range.lowerBound)))
        case .reverse: return .string(String(try string(args[0], name).reversed()))
        case .numbytes: return .int(Int64(try bytesOrString(args[0], name).count))
        case .chr:
            let code = try integer(args[0], name)
            guard let scalar = UInt32(exactly: code).flatMap(Unicode.Scalar.init) else {
                throw EvaluationError("chr needs a Unicode code point, got \(code)")
            }
            return .string(String(Character(scalar)))
        case .splitValue:
            // eKuiper's split_value(text, separator, index): the index-th (0-based) piece, null past the end.
            let s = try string(args[0], name)
            let separator = try string(args[1], name)
            guard !separator.isEmpty else { throw EvaluationError("split_value needs a non-empty separator") }
            let index = try integer(args[2], name)
            let parts = s.split(separator: separator, omittingEmptySubsequences: false)
            guard index >= 0, index < parts.count else { return .null }
            return .string(String(parts[Int(index)]))
        case .get:
            switch (args[0], args[1]) {
            case (.array(let a), _):
                // AWS IoT: get(array, index) is 0-based; a negative index counts from the end.
                let i = try integer(args[1], name)
                let position = i < 0 ? Int64(a.count) + i : i
                return position >= 0 && position < Int64(a.count) ? a[Int(position)] : .null
            case (.object(let o), .string(let key)): return o[key] ?? .null
            case (.object, let key): throw EvaluationError("get on an object needs a string key, got \(key.typeName)")
            case (let other, _): throw EvaluationError("get needs an object or an array, got \(other.typeName)")
            }
        case .keys:
            guard case .object(let o) = args[0] else { throw EvaluationError("keys needs an object, got \(args[0].typeName)") }
            return .array(o.keys.map(JSONValue.string))
        default:
            return try callArray(function, try array(args[0], name), Array(args.dropFirst()))
        }
    }

    static func callArray(_ function: BuiltinFunction, _ a: [JSONValue], _ rest: [JSONValue]) throws(EvaluationError) -> JSONValue {
        let name = function.rawValue
        switch function {
        case .arrayLength: return .int(Int64(a.count))
        case .arrayContains: return .bool(a.contains { sqlEqual($0, rest[0]) })
        case .arrayPosition: return .int(Int64(a.firstIndex { sqlEqual($0, rest[0]) } ?? -1))
        case .arrayJoin:
            let separator = rest.isEmpty ? "," : try string(rest[0], name)
            return .string(a.filter { !$0.isNull }.map(text).joined(separator: separator))
        default:
            // array_min / array_max: nulls skipped; mixed types are an error, as in comparisons.
            var best: JSONValue?
            for element in a where !element.isNull {
                guard let current = best else {
                    best = element
                    continue
                }
                let order = try compare(element, current) ?? 0
                if function == .arrayMin ? order < 0 : order > 0 { best = element }
            }
            return best ?? .null
        }
    }

    static func array(_ value: JSONValue, _ function: String) throws(EvaluationError) -> [JSONValue] {
        guard case .array(let a) = value else { throw EvaluationError("\(function) needs an array, got \(value.typeName)") }
        return a
    }
}
