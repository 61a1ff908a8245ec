import Glibc
import WeirCore

extension Evaluator {
    static func callFunction(_ function: BuiltinFunction, _ argNodes: [SQLNode], _ context: EvaluationContext) throws(EvaluationError)
        -> JSONValue
    {
        // Context functions and null-tolerant ones come first: they do not propagate null.
        switch function {
        case .topic:
            guard let first = argNodes.first else { return .string(context.topic) }
            guard case .literal(.int(let level)) = first else { return .null }
            var current: Int64 = 1
            for part in context.topic.split(separator: "/", omittingEmptySubsequences: false) {
                if current == level { return .string(String(part)) }
                current += 1
            }
            return .null
        case .timestamp: return .int(context.timestamp)
        case .qos: return .int(Int64(context.qos))
        case .newuuid: return .string(randomUUID())
        case .contentType: return context.properties?.contentType.map(JSONValue.string) ?? .null
        case .userProperty:
            // With no argument: every user property as an object (the first value of a repeated name).
            guard let first = argNodes.first else {
                var object = JSONObject()
                for property in context.properties?.user ?? [] where object[property.name] == nil {
                    object[property.name] = .string(property.value)
                }
                return .object(object)
            }
            guard case .string(let name) = try evaluate(first, context) else { return .null }
            return context.properties?.userProperty(name).map(JSONValue.string) ?? .null
        case .coalesce:
            for node in argNodes {
                let value = try evaluate(node, context)
                if !value.isNull { return value }
            }
            return .null
        case .concat:
            var out = ""
            for node in argNodes {
                let value = try evaluate(node, context)
                if !value.isNull { out += text(value) }
            }
            return .string(out)
        case .nullif:
            let a = try evaluate(argNodes[0], context)
            let b = try evaluate(argNodes[1], context)
            return sqlEqual(a, b) ? .null : a
        default:
            if let value = try callNullTolerant(function, argNodes, context) { return value }
        }
        var args: [JSONValue] = []
        args.reserveCapacity(argNodes.count)
        for node in argNodes {
            let value = try evaluate(node, context)
            if value.isNull { return .null }
            args.append(value)
        }
        let name = function.rawValue
        switch function {
        case .lower: return .string(try string(args[0], name).lowercased())
        case .upper: return .string(try string(args[0], name).uppercased())
        case .trim: return .string(trimmed(try string(args[0], name), leading: true, trailing: true))
        case .ltrim: return .string(trimmed(try string(args[0], name), leading: true, trailing: false))
        case .rtrim: return .string(trimmed(try string(args[0], name), leading: false, trailing: true))
        case .length:
            switch args[0] {
            case .string(let s): return .int(Int64(s.count))
            case .array(let a): return .int(Int64(a.count))
            case .object(let o): return .int(Int64(o.count))
            case .bytes(let b): return .int(Int64(b.count))
            case let other: throw EvaluationError("length needs a string or array, got \(other.typeName)")
            }
        case .substr:
            let s = Array(try string(args[0], name))
            // Start and length may come from the payload: clamped before any arithmetic, so
            // Int64.min or a length near Int64.max cannot overflow.
            let first = try integer(args[1], name)
            let start = first <= 1 ? 0 : Int(min(first - 1, Int64(s.count)))
            var end = s.count
            if args.count == 3 {
                let length = try integer(args[2], name)
                guard length >= 0 else { throw EvaluationError("substr length must not be negative") }
                end = start + Int(min(length, Int64(s.count - start)))
            }
            return .string(start < end ? String(s[start..<end]) : "")
        case .replace:
            let s = try string(args[0], name)
            let from = try string(args[1], name)
            guard !from.isEmpty else { return .string(s) }
            return .string(s.replacing(from, with: try string(args[2], name)))
        case .startswith: return .bool(try string(args[0], name).hasPrefix(try string(args[1], name)))
        case .endswith: return .bool(try string(args[0], name).hasSuffix(try string(args[1], name)))
        case .regexMatch, .regexReplace:
            let pattern = try string(args[1], name)
            let regex: CompiledRegex
            do {
                regex = try CompiledRegex.cached(pattern)
            } catch {
                throw EvaluationError("invalid regular expression '\(pattern)': \(error)")
            }
            if function == .regexMatch { return .bool(try regex.matches(try string(args[0], name))) }
            return .string(try regex.replace(in: try string(args[0], name), with: try string(args[2], name)))
        case .abs:
            if case .int(let i) = args[0] {
                guard i != .min else { throw EvaluationError("integer overflow in abs") }
                return .int(Swift.abs(i))
            }
            return .double(Swift.abs(try number(args[0], name)))
        case .round:
            if case .int = args[0], args.count == 1 { return args[0] }
            let x = try number(args[0], name)
            let digits = args.count == 2 ? try integer(args[1], name) : 0
            guard (-15...15).contains(digits) else { throw EvaluationError("round digits must be between -15 and 15") }
            let factor = Glibc.pow(10.0, Double(digits))
            let r = (x * factor).rounded(.toNearestOrAwayFromZero) / factor
            return digits <= 0 ? try intResult(r, name) : .double(r)
        case .floor:
            if case .int = args[0] { return args[0] }
            return try intResult(Glibc.floor(try number(args[0], name)), name)
        case .ceil:
            if case .int = args[0] { return args[0] }
            return try intResult(Glibc.ceil(try number(args[0], name)), name)
        case .sqrt:
            let x = try number(args[0], name)
            guard x >= 0 else { throw EvaluationError("sqrt of a negative number") }
            return .double(x.squareRoot())
        case .pow: return .double(Glibc.pow(try number(args[0], name), try number(args[1], name)))
        case .exp: return .double(Glibc.exp(try number(args[0], name)))
        case .ln, .log10:
            let x = try number(args[0], name)
            guard x > 0 else { throw EvaluationError("\(name) of a non-positive number") }
            return .double(function == .ln ? Glibc.log(x) : Glibc.log10(x))
        case .mod: return try arithmetic(.remainder, args[0], args[1])
        case .sign:
            let x = try number(args[0], name)
            return .int(x > 0 ? 1 : (x < 0 ? -1 : 0))
        case .int: return try convert(args[0], to: .int)
        case .float: return try convert(args[0], to: .float)
        case .string: return try convert(args[0], to: .string)
        case .bool: return try convert(args[0], to: .bool)
        case .topic, .timestamp, .qos, .newuuid, .contentType, .userProperty, .coalesce, .concat, .nullif:
            return .null  // handled above
        default:
            return try callExtended(function, args)
        }
    }

    static func string(_ value: JSONValue, _ function: String) throws(EvaluationError) -> String {
        guard case .string(let s) = value else { throw EvaluationError("\(function) needs a string, got \(value.typeName)") }
        return s
    }

    static func number(_ value: JSONValue, _ function: String) throws(EvaluationError) -> Double {
        guard let d = value.doubleValue else { throw EvaluationError("\(function) needs a number, got \(value.typeName)") }
        return d
    }

    static func integer(_ value: JSONValue, _ function: String) throws(EvaluationError) -> Int64 {
        switch value {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && Swift.abs(d) < 9e18: return Int64(d)
        default: throw EvaluationError("\(function) needs an integer, got \(value.typeName)")
        }
    }

    static func intResult(_ d: Double, _ function: String) throws(EvaluationError) -> JSONValue {
        guard d.isFinite, Swift.abs(d) < 9.2e18 else { throw EvaluationError("\(function) result out of integer range") }
        return .int(Int64(d))
    }

    static func trimmed(_ s: String, leading: Bool, trailing: Bool) -> String {
        var view = Substring(s)
        if leading { view = view.drop(while: \.isWhitespace) }
        if trailing {
            while let last = view.last, last.isWhitespace { view = view.dropLast() }
        }
        return String(view)
    }

    /// Type conversion for `cast(x AS t)` and `int()`, `float()`, `string()`, `bool()`.
    static func convert(_ value: JSONValue, to type: CastType) throws(EvaluationError) -> JSONValue {
        if value.isNull { return .null }
        switch (type, value) {
        case (.int, .int), (.float, .double), (.string, .string), (.bool, .bool): return value
        case (.int, .double(let d)): return try intResult(d.rounded(.towardZero), "int")
        case (.int, .bool(let b)): return .int(b ? 1 : 0)
        case (.int, .string(let s)):
            let t = trimmed(s, leading: true, trailing: true)
            if let i = Int64(t) { return .int(i) }
            if let d = Double(t) { return try intResult(d.rounded(.towardZero), "int") }
            throw EvaluationError("cannot convert '\(s)' to int")
        case (.float, .int(let i)): return .double(Double(i))
        case (.float, .bool(let b)): return .double(b ? 1 : 0)
        case (.float, .string(let s)):
            guard let d = Double(trimmed(s, leading: true, trailing: true)) else { throw EvaluationError("cannot convert '\(s)' to float") }
            return .double(d)
        case (.string, .bytes(let b)):
            // Bytes to text: valid UTF-8 only (decode(x, 'base64') of a text payload, for example).
            guard let text = String(validating: b, as: UTF8.self) else {
                throw EvaluationError("cannot convert bytes to string: not UTF-8")
            }
            return .string(text)
        case (.string, _): return .string(value.description)
        case (.bool, .int(let i)): return .bool(i != 0)
        case (.bool, .double(let d)): return .bool(d != 0)
        case (.bool, .string(let s)):
            switch s.lowercased() {
            case "true", "1", "yes", "on": return .bool(true)
            case "false", "0", "no", "off": return .bool(false)
            default: throw EvaluationError("cannot convert '\(s)' to bool")
            }
        default:
            throw EvaluationError("cannot convert \(value.typeName) to \(type.rawValue)")
        }
    }

    static func randomUUID() -> String {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }
}
