import Glibc

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds,
/// e.g. `2026-11-23T07:09:42.123Z`.
public func rfc3339(millis: Int64) -> String {
    var seconds = time_t(millis / 1000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis % 1000), 3))Z"
}

/// Parses an RFC 3339 timestamp (`2026-11-23T07:09:42Z`, fractional seconds and `±hh:mm` offsets
/// allowed; a space may replace the `T`) into milliseconds since the Unix epoch, or nil.
public func parseRFC3339(_ text: String) -> Int64? {
    let b = Array(text.utf8)
    func digits(_ at: Int, _ count: Int) -> Int64? {
        guard at + count <= b.count else { return nil }
        var value: Int64 = 0
        for i in at..<(at + count) {
            guard b[i] >= 48, b[i] <= 57 else { return nil }
            value = value * 10 + Int64(b[i] - 48)
        }
        return value
    }
    guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
        b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == 32,
        b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
        let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2), let hour = digits(11, 2), let minute = digits(14, 2),
        let second = digits(17, 2), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }
    var index = 19
    var millis: Int64 = 0
    if index < b.count, b[index] == UInt8(ascii: ".") {
        index += 1
        var scale: Int64 = 100
        let start = index
        while index < b.count, b[index] >= 48, b[index] <= 57 {
            millis += Int64(b[index] - 48) * scale
            scale /= 10
            index += 1
        }
        guard index > start else { return nil }
    }
    guard index < b.count else { return nil }
    var offsetMinutes: Int64 = 0
    switch b[index] {
    case UInt8(ascii: "Z"), UInt8(ascii: "z"):
        guard index + 1 == b.count else { return nil }
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
        guard index + 6 == b.count, b[index + 3] == UInt8(ascii: ":"), let h = digits(index + 1, 2), let m = digits(index + 4, 2) else {
            return nil
        }
        offsetMinutes = (h * 60 + m) * (b[index] == UInt8(ascii: "+") ? 1 : -1)
    default:
        return nil
    }
    let days = CivilDate.days(year: year, month: month, day: day)
    return ((days * 86_400 + hour * 3600 + minute * 60 + second) - offsetMinutes * 60) * 1000 + millis
}

/// Proleptic Gregorian dates as days since 1970-01-01 and back (Howard Hinnant's algorithms): the
/// one copy that RFC 3339, CloudEvents times and the SQL time functions share.
public enum CivilDate {
    /// Days since 1970-01-01 of a civil date (month 1...12, day 1...31).
    @inlinable
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date (year, month, day) of days since 1970-01-01.
    @inlinable
    public static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
