import WeirCore

extension Evaluator {
    /// format_time, parse_time and the calendar fields; times are epoch milliseconds (int or
    /// float) or RFC 3339 text, zones IANA names (UTC when not given).
    static func callTime(_ function: BuiltinFunction, _ args: [JSONValue]) throws(EvaluationError) -> JSONValue {
        let name = function.rawValue
        switch function {
        case .formatTime:
            let millis = try epochMillis(args[0], name)
            let pattern = try TimePattern.cached(try string(args[1], name))
            return .string(pattern.format(millis: millis, zone: try zone(args, at: 2, name)))
        case .parseTime:
            // AWS IoT's parse_time(pattern, timestamp) formats; say where that went.
            if args[1].doubleValue != nil {
                throw EvaluationError("parse_time(text, pattern) reads a time; to write one use format_time(timestamp, pattern)")
            }
            let text = try string(args[0], name)
            let pattern = try TimePattern.cached(try string(args[1], name))
            return .int(try pattern.parse(text, zone: try zone(args, at: 2, name)))
        default:
            let millis = try epochMillis(args[0], name)
            let rules = try zone(args, at: 1, name)
            let seconds = CivilTime.floorDiv(millis, 1000)
            let t = CivilTime(localSeconds: seconds + rules.localType(at: seconds).offset)
            switch function {
            case .year: return .int(t.year)
            case .month: return .int(t.month)
            case .day: return .int(t.day)
            case .hour: return .int(t.hour)
            case .minute: return .int(t.minute)
            case .second: return .int(t.second)
            case .dayOfWeek: return .int(t.isoWeekday)
            default: return .int(t.dayOfYear)
            }
        }
    }

    /// Epoch milliseconds of a time argument, within years 0 to 9999.
    static func epochMillis(_ value: JSONValue, _ function: String) throws(EvaluationError) -> Int64 {
        let millis: Int64
        switch value {
        case .int(let i): millis = i
        case .double(let d) where d.isFinite && Swift.abs(d) < 1e15: millis = Int64(d.rounded(.down))
        case .string(let text):
            guard let parsed = parseRFC3339(text) else {
                throw EvaluationError("\(function) needs epoch milliseconds or an RFC 3339 time, got '\(text)'")
            }
            millis = parsed
        default:
            throw EvaluationError("\(function) needs a time (epoch milliseconds), got \(value.typeName)")
        }
        // Years 0 to 9999 keep every field four digits and the calendar arithmetic far from overflow.
        guard (-62_167_219_200_000...253_402_300_799_999).contains(millis) else {
            throw EvaluationError("\(function): time \(millis) is outside the years 0 to 9999")
        }
        return millis
    }

    static func zone(_ args: [JSONValue], at index: Int, _ function: String) throws(EvaluationError) -> TimeZoneRules {
        guard index < args.count else { return .utc }
        return try TimeZoneCache.zone(try string(args[index], function)).get()
    }
}
