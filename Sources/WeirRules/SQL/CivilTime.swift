import WeirCore

/// Wall-clock fields and calendar arithmetic (on WeirCore's `CivilDate`) for the SQL time
/// functions: no Foundation `Calendar` in the binary (docs/architecture.md).
struct CivilTime: Equatable {
    var year: Int64
    var month: Int64  // 1...12
    var day: Int64  // 1...31
    var hour: Int64 = 0
    var minute: Int64 = 0
    var second: Int64 = 0
    var millisecond: Int64 = 0

    /// The wall-clock fields of `seconds` since the epoch (already shifted by the zone's offset).
    init(localSeconds seconds: Int64, millisecond: Int64 = 0) {
        let days = Self.floorDiv(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        (year, month, day) = Self.civil(fromDays: days)
        hour = secondOfDay / 3600
        minute = secondOfDay % 3600 / 60
        second = secondOfDay % 60
        self.millisecond = millisecond
    }

    init(year: Int64, month: Int64, day: Int64) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Seconds since the epoch of these wall-clock fields, read as UTC.
    var localSeconds: Int64 {
        Self.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    /// ISO 8601 weekday: 1 is Monday, 7 is Sunday.
    var isoWeekday: Int64 {
        let sundayBased = Self.weekday(days: Self.days(year: year, month: month, day: day))
        return sundayBased == 0 ? 7 : sundayBased
    }

    /// Day of the year, 1...366.
    var dayOfYear: Int64 {
        Self.days(year: year, month: month, day: day) - Self.days(year: year, month: 1, day: 1) + 1
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        CivilDate.days(year: year, month: month, day: day)
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let date = CivilDate.civil(fromDays: days)
        return (date.year, date.month, date.day)
    }

    /// 0 is Sunday (1970-01-01 was a Thursday).
    static func weekday(days: Int64) -> Int64 {
        let w = (days + 4) % 7
        return w < 0 ? w + 7 : w
    }

    static func isLeap(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
