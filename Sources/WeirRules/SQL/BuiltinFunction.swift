import Glibc

/// The functions rules may call, resolved by name once at compile time.
enum BuiltinFunction: String, Sendable, CaseIterable {
    case lower, upper, concat, length, substr, replace, trim, ltrim, rtrim, startswith, endswith
    case regexMatch = "regex_match"
    case regexReplace = "regex_replace"
    case abs, round, floor, ceil, sqrt, pow, exp, ln, log10, mod, sign
    case coalesce, nullif
    case int, float, string, bool
    case topic, timestamp, qos, newuuid
    case userProperty = "user_property"
    case contentType = "content_type"
    // Issue 15: time (BuiltinFunctions+Time.swift).
    case now
    case formatTime = "format_time"
    case parseTime = "parse_time"
    case year, month, day, hour, minute, second
    case dayOfWeek = "day_of_week"
    case dayOfYear = "day_of_year"
    // Bytes, hashes and encodings (BuiltinFunctions+Bytes.swift).
    case md5, sha1, sha224, sha256, sha384, sha512, crc32
    case encode, decode, hex, unhex, payload
    case int8, uint8, int16, uint16, int32, uint32, int64, float32, float64
    // Math and bits (BuiltinFunctions+Math.swift).
    case sin, cos, tan, asin, acos, atan, atan2, sinh, cosh, tanh, cot, degrees, radians, pi, rand, trunc, nanvl
    case bitand, bitor, bitxor, bitnot, bitshiftleft, bitshiftright
    // Strings, objects, arrays and types (BuiltinFunctions+Collections.swift).
    case lpad, rpad, indexof, reverse, numbytes, chr
    case splitValue = "split_value"
    case get, keys
    case arrayLength = "array_length"
    case arrayContains = "array_contains"
    case arrayPosition = "array_position"
    case arrayJoin = "array_join"
    case arrayMin = "array_min"
    case arrayMax = "array_max"
    case isnull, isundefined, typeof

    /// Alternative spellings from the AWS IoT and EMQX dialects.
    static let aliases: [String: BuiltinFunction] = [
        "substring": .substr, "power": .pow, "str": .string, "log": .log10, "ceiling": .ceil,
        "tolower": .lower, "toupper": .upper, "len": .length,
    ].merging(extendedAliases) { first, _ in first }

    static func named(_ name: String) -> BuiltinFunction? {
        let lower = name.lowercased()
        return BuiltinFunction(rawValue: lower) ?? aliases[lower]
    }

    /// Allowed argument counts; `nil` upper bound means variadic.
    var arity: (min: Int, max: Int?) {
        if let extended = extendedArity { return extended }
        switch self {
        case .topic, .userProperty: return (0, 1)
        case .timestamp, .qos, .newuuid, .contentType: return (0, 0)
        case .concat, .coalesce: return (1, nil)
        case .substr: return (2, 3)
        case .round: return (1, 2)
        case .replace, .regexReplace: return (3, 3)
        case .startswith, .endswith, .regexMatch, .pow, .mod, .nullif: return (2, 2)
        default: return (1, 1)
        }
    }

    func checkArity(_ count: Int, name: String, offset: Int) throws(SQLError) {
        let (low, high) = arity
        guard count >= low, high.map({ count <= $0 }) ?? true else {
            let expected: String
            if let high, high == low {
                expected = "\(low) argument\(low == 1 ? "" : "s")"
            } else if let high {
                expected = "\(low) or \(high) arguments"
            } else {
                expected = "at least \(low) argument\(low == 1 ? "" : "s")"
            }
            throw SQLError("function '\(name.lowercased())' takes \(expected), got \(count)", at: offset)
        }
    }
}
