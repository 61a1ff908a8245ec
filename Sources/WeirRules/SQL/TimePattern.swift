import Synchronization

/// A date-time pattern in the Java/Joda style that AWS IoT's time functions use
/// (`yyyy-MM-dd'T'HH:mm:ss.SSSZ`), compiled once: format_time writes it, parse_time reads it.
/// docs/rules.md ("Time patterns") lists the letters.
struct TimePattern: Sendable {
    enum Field: Sendable, Equatable {
        case literal(String)
        case year(Int)
        case month(Int)
        case day(Int)
        case dayOfYear(Int)
        case hour(Int)
        case hour12(Int)
        case minute(Int)
        case second(Int)
        case fraction(Int)
        case ampm
        case weekday(Int)
        /// Z: +0000; ZZ: +00:00 (Joda). X: Z or +00; XX: Z or +0000; XXX: Z or +00:00 (ISO 8601).
        case offset(colon: Bool, zulu: Bool, hoursOnly: Bool)
        case zoneName
    }

    let fields: [Field]

    static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]
    static let weekdayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    /// Compiles `pattern`; the error names the first letter that is not a pattern letter.
    init(_ pattern: String) throws(EvaluationError) {
        var fields: [Field] = []
        let chars = Array(pattern)
        var i = 0
        var pendingLiteral = ""
        func flush() {
            if !pendingLiteral.isEmpty { fields.append(.literal(pendingLiteral)) }
            pendingLiteral = ""
        }
        while i < chars.count {
            let c = chars[i]
            if c == "'" {
                // '' is a quote; 'text' is literal text.
                if i + 1 < chars.count, chars[i + 1] == "'" {
                    pendingLiteral.append("'")
                    i += 2
                    continue
                }
                guard let close = chars[(i + 1)...].firstIndex(of: "'") else {
                    throw EvaluationError("time pattern '\(pattern)' has an unterminated quote")
                }
                pendingLiteral += String(chars[(i + 1)..<close])
                i = close + 1
                continue
            }
            guard c.isASCII, c.isLetter else {
                pendingLiteral.append(c)
                i += 1
                continue
            }
            var count = 1
            while i + count < chars.count, chars[i + count] == c { count += 1 }
            i += count
            flush()
            switch c {
            case "y", "u": fields.append(.year(count))
            case "M", "L": fields.append(.month(count))
            case "d": fields.append(.day(count))
            case "D": fields.append(.dayOfYear(count))
            case "H": fields.append(.hour(count))
            case "h": fields.append(.hour12(count))
            case "m": fields.append(.minute(count))
            case "s": fields.append(.second(count))
            case "S": fields.append(.fraction(count))
            case "a": fields.append(.ampm)
            case "E": fields.append(.weekday(count))
            case "Z": fields.append(.offset(colon: count >= 2, zulu: false, hoursOnly: false))
            case "X": fields.append(.offset(colon: count >= 3, zulu: true, hoursOnly: count == 1))
            case "z": fields.append(.zoneName)
            default:
                throw EvaluationError("time pattern '\(pattern)': unknown pattern letter '\(c)' (quote text with '...')")
            }
        }
        flush()
        self.fields = fields
    }

    private static let cache = Mutex<[String: TimePattern]>([:])

    /// The compiled pattern, from a small cache: patterns are nearly always literals in the rule.
    static func cached(_ pattern: String) throws(EvaluationError) -> TimePattern {
        if let hit = cache.withLock({ $0[pattern] }) { return hit }
        let compiled = try TimePattern(pattern)
        cache.withLock { if $0.count < 256 { $0[pattern] = compiled } }
        return compiled
    }

    /// `millis` since the epoch as text in `zone`.
    func format(millis: Int64, zone: TimeZoneRules) -> String {
        let seconds = CivilTime.floorDiv(millis, 1000)
        let type = zone.localType(at: seconds)
        let t = CivilTime(localSeconds: seconds + type.offset, millisecond: millis - seconds * 1000)
        var out = ""
        for field in fields {
            switch field {
            case .literal(let text): out += text
            case .year(let n): out += n == 2 ? Self.pad(((t.year % 100) + 100) % 100, 2) : Self.pad(t.year, n)
            case .month(let n):
                if n >= 4 {
                    out += Self.monthNames[Int(t.month) - 1]
                } else if n == 3 {
                    out += Self.monthNames[Int(t.month) - 1].prefix(3)
                } else {
                    out += Self.pad(t.month, n)
                }
            case .day(let n): out += Self.pad(t.day, n)
            case .dayOfYear(let n): out += Self.pad(t.dayOfYear, n)
            case .hour(let n): out += Self.pad(t.hour, n)
            case .hour12(let n): out += Self.pad(t.hour % 12 == 0 ? 12 : t.hour % 12, n)
            case .minute(let n): out += Self.pad(t.minute, n)
            case .second(let n): out += Self.pad(t.second, n)
            case .fraction(let n):
                let digits = Self.pad(t.millisecond, 3)
                out += n <= 3 ? String(digits.prefix(n)) : digits + String(repeating: "0", count: n - 3)
            case .ampm: out += t.hour < 12 ? "AM" : "PM"
            case .weekday(let n):
                let name = Self.weekdayNames[Int(t.isoWeekday) - 1]
                out += n >= 4 ? name : String(name.prefix(3))
            case .offset(let colon, let zulu, let hoursOnly):
                out += Self.offsetText(type.offset, colon: colon, zulu: zulu, hoursOnly: hoursOnly)
            case .zoneName: out += type.abbreviation
            }
        }
        return out
    }

    static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(Swift.abs(value))
        let padded = digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        return value < 0 ? "-" + padded : padded
    }

    static func offsetText(_ offset: Int64, colon: Bool, zulu: Bool, hoursOnly: Bool) -> String {
        if zulu && offset == 0 { return "Z" }
        let sign = offset < 0 ? "-" : "+"
        let minutes = Swift.abs(offset) / 60
        let hours = pad(minutes / 60, 2)
        if hoursOnly { return sign + hours }
        return sign + hours + (colon ? ":" : "") + pad(minutes % 60, 2)
    }
}
