import Glibc
import WeirCore

/// When a scheduled rule runs: `every <duration>` or a five-field cron expression (UTC).
public enum Schedule: Sendable, Equatable, CustomStringConvertible {
    /// A fixed interval in milliseconds, counted from the previous run.
    case every(milliseconds: Int64, text: String)
    case cron(CronExpression)

    /// Parses `every 60d`, `every 15m`, a cron line such as `0 3 * * 1`, or `@daily` and friends.
    public init(parsing text: String) throws(ScheduleError) {
        let trimmed = text.trimmingSpaces()
        if trimmed.lowercased().hasPrefix("every ") {
            let amount = trimmed.dropFirst(6).trimmingSpaces()
            guard let duration = parseDuration(amount), duration >= .seconds(1) else {
                throw ScheduleError(
                    message: "'every' needs a duration of at least 1s such as 60d, 12h or 15m, found '\(amount)'", offset: 6)
            }
            self = .every(milliseconds: duration.milliseconds, text: trimmed)
            return
        }
        self = .cron(try CronExpression(parsing: trimmed))
    }

    public var description: String {
        switch self {
        case .every(_, let text): return text
        case .cron(let expression): return expression.text
        }
    }

    /// The first run strictly after `last` (ms since epoch).
    public func next(after last: Int64) -> Int64? {
        switch self {
        case .every(let interval, _): return last + interval
        case .cron(let expression): return expression.next(after: last)
        }
    }

    /// When the next run is due, given the last recorded one (nil: never ran) and, for a cron
    /// schedule that never ran, when it was first seen (a slot after that is a missed run). A
    /// recorded time later than `now` (the clock was wrong then, or is now) counts as now.
    public func due(lastRun: Int64?, firstSeen: Int64? = nil, now: Int64) -> Int64? {
        if let lastRun { return next(after: min(lastRun, now)) }
        if case .cron = self, let firstSeen { return next(after: min(firstSeen, now)) }
        return firstRun(now: now)
    }

    /// When the first run is due for a schedule that never ran: an interval schedule runs at its
    /// first start, a cron schedule at its next matching minute.
    public func firstRun(now: Int64) -> Int64? {
        switch self {
        case .every: return now
        case .cron(let expression): return expression.next(after: now - 1)
        }
    }
}

/// A schedule that does not parse; `offset` is the byte offset in the text.
public struct ScheduleError: Error, Sendable, Equatable {
    public var message: String
    public var offset: Int
}

/// A cron expression: minute, hour, day of month, month, day of week, evaluated in UTC.
///
/// Each field takes `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists of those;
/// months and weekdays also take English abbreviations (`jan`, `mon`). Sunday is 0 or 7. As in
/// Vixie cron, when both day fields are restricted a day matching either runs.
public struct CronExpression: Sendable, Equatable {
    public let text: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0", "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(parsing text: String) throws(ScheduleError) {
        self.text = text
        let expanded = Self.macros[text.lowercased()] ?? text
        let fields = expanded.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 5 else {
            throw ScheduleError(
                message:
                    "a schedule is 'every <duration>' or a cron expression of 5 fields "
                    + "(minute hour day-of-month month day-of-week), found \(fields.count) field(s)",
                offset: 0)
        }
        var starts: [Int] = []
        var inToken = false
        for (position, byte) in expanded.utf8.enumerated() {
            if byte != 0x20, !inToken { starts.append(position) }
            inToken = byte != 0x20
        }
        func offset(_ index: Int) -> Int { expanded == text && index < starts.count ? starts[index] : 0 }
        func field(_ index: Int, _ name: String, _ range: ClosedRange<Int>, names: [String] = [], nameBase: Int = 0) throws(ScheduleError)
            -> Set<Int>
        {
            do {
                return try Self.parseField(String(fields[index]), range, names: names, nameBase: nameBase)
            } catch {
                throw ScheduleError(message: "\(name): \(error.message)", offset: offset(index))
            }
        }
        minutes = try field(0, "minute", 0...59)
        hours = try field(1, "hour", 0...23)
        daysOfMonth = try field(2, "day of month", 1...31)
        months = try field(3, "month", 1...12, names: Self.monthNames, nameBase: 1)
        var weekdays = try field(4, "day of week", 0...7, names: Self.dayNames)
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        daysOfWeek = weekdays
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        dayOfWeekRestricted = !fields[4].hasPrefix("*")
    }

    static func parseField(_ text: String, _ range: ClosedRange<Int>, names: [String], nameBase: Int) throws(ScheduleError) -> Set<Int> {
        func value(_ token: Substring) throws(ScheduleError) -> Int {
            if let number = Int(token) {
                guard range.contains(number) else {
                    throw ScheduleError(message: "\(number) is outside \(range.lowerBound)-\(range.upperBound)", offset: 0)
                }
                return number
            }
            if let index = names.firstIndex(of: token.lowercased()) { return index + nameBase }
            throw ScheduleError(message: "'\(token)' is not a number", offset: 0)
        }
        var result: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, let base = pieces.first, !base.isEmpty else {
                throw ScheduleError(message: "'\(part)' is not a valid field", offset: 0)
            }
            var step = 1
            if pieces.count == 2 {
                guard let n = Int(pieces[1]), n >= 1 else {
                    throw ScheduleError(message: "step '\(pieces[1])' must be a positive number", offset: 0)
                }
                step = n
            }
            var low = range.lowerBound
            var high = range.upperBound
            if base != "*" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw ScheduleError(message: "'\(base)' is not a valid range", offset: 0) }
                low = try value(bounds[0])
                high = bounds.count == 2 ? try value(bounds[1]) : (pieces.count == 2 ? range.upperBound : low)
                guard low <= high else { throw ScheduleError(message: "range '\(base)' runs backwards", offset: 0) }
            }
            for v in stride(from: low, through: high, by: step) { result.insert(v) }
        }
        return result
    }

    /// The first matching minute strictly after `after` (ms since epoch), searching up to 5 years.
    public func next(after: Int64) -> Int64? {
        var t = (after / 60_000 + 1) * 60
        if after < 0 { return nil }
        let limit = t + 5 * 366 * 86_400
        var parts = tm()
        while t < limit {
            var seconds = time_t(t)
            gmtime_r(&seconds, &parts)
            let month = Int(parts.tm_mon) + 1
            if !months.contains(month) {
                // First minute of the next month.
                parts.tm_mon += 1
                parts.tm_mday = 1
                parts.tm_hour = 0
                parts.tm_min = 0
                parts.tm_sec = 0
                t = Int64(timegm(&parts))
                continue
            }
            if !dayMatches(day: Int(parts.tm_mday), weekday: Int(parts.tm_wday)) {
                t += Int64(86_400 - Int(parts.tm_hour) * 3600 - Int(parts.tm_min) * 60)
                continue
            }
            if !hours.contains(Int(parts.tm_hour)) {
                t += Int64(3600 - Int(parts.tm_min) * 60)
                continue
            }
            if !minutes.contains(Int(parts.tm_min)) {
                t += 60
                continue
            }
            return t * 1000
        }
        return nil
    }

    /// Vixie cron: when either day field starts with `*` (`*`, `*/2`), a day must match both;
    /// when both are restricted, either.
    private func dayMatches(day: Int, weekday: Int) -> Bool {
        if dayOfMonthRestricted && dayOfWeekRestricted { return daysOfMonth.contains(day) || daysOfWeek.contains(weekday) }
        return daysOfMonth.contains(day) && daysOfWeek.contains(weekday)
    }
}
