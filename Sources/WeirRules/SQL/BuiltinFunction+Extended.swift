import WeirCore

/// Arity, aliases, compile-time checks and dispatch for the functions issue 15 added (time,
/// bytes and hashes, math and bits, strings, objects and arrays), apart from the original set.
extension BuiltinFunction {
    /// AWS IoT and eKuiper spellings of the functions below.
    static let extendedAliases: [String: BuiltinFunction] = [
        "time_to_epoch": .parseTime, "day_of_month": .day, "dayofmonth": .day, "dayofweek": .dayOfWeek,
        "dayofyear": .dayOfYear, "cardinality": .arrayLength, "regexp_matches": .regexMatch,
        "regexp_replace": .regexReplace,
    ]

    var extendedArity: (min: Int, max: Int?)? {
        switch self {
        case .now, .pi, .rand: return (0, 0)
        case .payload: return (0, 0)
        case .formatTime, .parseTime: return (2, 3)
        case .year, .month, .day, .hour, .minute, .second, .dayOfWeek, .dayOfYear: return (1, 2)
        case .encode, .decode: return (2, 2)
        case .int8, .uint8: return (2, 2)
        case .int16, .uint16, .int32, .uint32, .int64, .float32, .float64: return (2, 3)
        case .atan2, .nanvl, .bitand, .bitor, .bitxor, .bitshiftleft, .bitshiftright: return (2, 2)
        case .trunc: return (1, 2)
        case .lpad, .rpad: return (2, 3)
        case .indexof, .get, .arrayContains, .arrayPosition: return (2, 2)
        case .arrayJoin: return (1, 2)
        case .splitValue: return (3, 3)
        default: return nil
        }
    }

    /// Checks the arguments that are literals where the function needs one of a few values (an
    /// encoding, a byte order, a time zone, a time pattern), so a typo fails `weir check` with
    /// its position instead of failing every event.
    func checkLiteralArguments(_ args: [SQLNode], offset: Int) throws(SQLError) {
        func literal(_ index: Int) -> String? {
            guard index < args.count, case .literal(.string(let text)) = args[index] else { return nil }
            return text
        }
        do throws(EvaluationError) {
            switch self {
            case .encode, .decode:
                if let scheme = literal(1) { _ = try ByteEncoding(name: scheme, function: rawValue) }
            case .int16, .uint16, .int32, .uint32, .int64, .float32, .float64:
                if let order = literal(2) { _ = try ByteOrder(name: order, function: rawValue) }
            case .formatTime, .parseTime:
                if let pattern = literal(1) { _ = try TimePattern.cached(pattern) }
                if let zone = literal(2) { _ = try TimeZoneCache.zone(zone).get() }
            case .year, .month, .day, .hour, .minute, .second, .dayOfWeek, .dayOfYear:
                if let zone = literal(1) { _ = try TimeZoneCache.zone(zone).get() }
            default: break
            }
        } catch {
            throw SQLError(error.message, at: offset)
        }
    }
}

extension Evaluator {
    /// Functions that see null and missing arguments themselves instead of returning null.
    static func callNullTolerant(_ function: BuiltinFunction, _ argNodes: [SQLNode], _ context: EvaluationContext)
        throws(EvaluationError) -> JSONValue?
    {
        switch function {
        case .now: return .int(currentTimeMillis())
        case .pi: return .double(Double.pi)
        case .rand: return .double(Double.random(in: 0..<1))
        case .payload: return context.payloadValue ?? context.payload
        case .isnull: return .bool(try evaluate(argNodes[0], context).isNull)
        case .isundefined: return .bool(isUndefined(argNodes[0], context))
        case .typeof:
            if isUndefined(argNodes[0], context) { return .string("undefined") }
            return .string(try evaluate(argNodes[0], context).typeName)
        case .nanvl:
            let value = try evaluate(argNodes[0], context)
            if case .double(let d) = value, d.isNaN { return try evaluate(argNodes[1], context) }
            return value
        default: return nil
        }
    }

    /// Whether `node` is a payload path that names nothing (as opposed to an explicit null):
    /// Weir has no undefined value, so only a path can be undefined.
    static func isUndefined(_ node: SQLNode, _ context: EvaluationContext) -> Bool {
        guard case .path(let first, let segments) = node else { return false }
        guard var value = context.payload[first] else { return true }
        for segment in segments {
            let next: JSONValue?
            switch segment {
            case .key(let key): next = value[key]
            case .index(let index): next = value[index]
            }
            guard let next else { return true }
            value = next
        }
        return false
    }

    /// The functions of issue 15 whose arguments are all non-null.
    static func callExtended(_ function: BuiltinFunction, _ args: [JSONValue]) throws(EvaluationError) -> JSONValue {
        switch function {
        case .formatTime, .parseTime, .year, .month, .day, .hour, .minute, .second, .dayOfWeek, .dayOfYear:
            return try callTime(function, args)
        case .md5, .sha1, .sha224, .sha256, .sha384, .sha512, .crc32, .encode, .decode, .hex, .unhex:
            return try callBytes(function, args)
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .float32, .float64:
            return try decodeBinary(function, args)
        case .sin, .cos, .tan, .asin, .acos, .atan, .atan2, .sinh, .cosh, .tanh, .cot, .degrees, .radians, .trunc:
            return try callMath(function, args)
        case .bitand, .bitor, .bitxor, .bitnot, .bitshiftleft, .bitshiftright:
            return try callBits(function, args)
        default:
            return try callCollections(function, args)
        }
    }
}
