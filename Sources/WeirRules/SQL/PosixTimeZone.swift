/// A POSIX TZ string as in a TZif footer ("CET-1CEST,M3.5.0,M10.5.0/3"): standard time, and
/// optionally daylight time with the rules for when it starts and ends each year.
struct PosixTimeZone: Sendable, Equatable {
    /// When in the year a change happens: the date rule and the local time of day (seconds).
    enum DateRule: Sendable, Equatable {
        /// Jn: day 1...365, February 29 never counted.
        case julianNoLeap(Int64)
        /// n: day 0...365, February 29 counted.
        case zeroBased(Int64)
        /// Mm.w.d: weekday d (0 Sunday) of week w (5: the last) of month m.
        case monthWeekDay(Int64, Int64, Int64)
    }

    var standard: TimeZoneRules.LocalType
    var daylight: TimeZoneRules.LocalType?
    var start = DateRule.monthWeekDay(3, 2, 0)
    var startTime: Int64 = 7200
    var end = DateRule.monthWeekDay(11, 1, 0)
    var endTime: Int64 = 7200

    init?(_ text: String) {
        var scanner = Scanner(Array(text.utf8))
        guard let stdName = scanner.name(), let stdOffset = scanner.offset() else { return nil }
        // POSIX offsets count west of UTC; TZif's count east.
        standard = TimeZoneRules.LocalType(offset: -stdOffset, isDST: false, abbreviation: stdName)
        if scanner.atEnd { return }
        guard let dstName = scanner.name() else { return nil }
        var dstOffset = -stdOffset + 3600
        if !scanner.atEnd, !scanner.peek(",") {
            guard let parsed = scanner.offset() else { return nil }
            dstOffset = -parsed
        }
        daylight = TimeZoneRules.LocalType(offset: dstOffset, isDST: true, abbreviation: dstName)
        guard scanner.accept(",") else {
            if scanner.atEnd { return }
            return nil
        }
        guard let startRule = scanner.rule() else { return nil }
        start = startRule.0
        startTime = startRule.1
        guard scanner.accept(","), let endRule = scanner.rule(), scanner.atEnd else { return nil }
        end = endRule.0
        endTime = endRule.1
    }

    func localType(at seconds: Int64) -> TimeZoneRules.LocalType {
        guard let daylight else { return standard }
        let year = CivilTime(localSeconds: seconds + standard.offset).year
        // Start is given in standard local time, end in daylight local time.
        let startUTC = Self.day(start, year) * 86_400 + startTime - standard.offset
        let endUTC = Self.day(end, year) * 86_400 + endTime - daylight.offset
        let inDaylight = startUTC < endUTC ? (seconds >= startUTC && seconds < endUTC) : !(seconds >= endUTC && seconds < startUTC)
        return inDaylight ? daylight : standard
    }

    /// Days since the epoch of the rule's date in `year`.
    static func day(_ rule: DateRule, _ year: Int64) -> Int64 {
        let january1 = CivilTime.days(year: year, month: 1, day: 1)
        switch rule {
        case .julianNoLeap(let n):
            return january1 + n - 1 + (CivilTime.isLeap(year) && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            return january1 + n
        case .monthWeekDay(let month, let week, let weekday):
            let first = CivilTime.days(year: year, month: month, day: 1)
            var day = 1 + (weekday - CivilTime.weekday(days: first) + 7) % 7 + (week - 1) * 7
            while day > CivilTime.daysInMonth(year: year, month: month) { day -= 7 }
            return first + day - 1
        }
    }

    private struct Scanner {
        let b: [UInt8]
        var i = 0

        init(_ b: [UInt8]) { self.b = b }

        var atEnd: Bool { i >= b.count }

        func peek(_ c: Character) -> Bool { i < b.count && b[i] == c.asciiValue! }

        mutating func accept(_ c: Character) -> Bool {
            guard peek(c) else { return false }
            i += 1
            return true
        }

        /// A zone abbreviation: three or more letters, or anything in <...> ("<+0330>").
        mutating func name() -> String? {
            let start = i
            if accept("<") {
                while i < b.count, b[i] != UInt8(ascii: ">") { i += 1 }
                guard i < b.count else { return nil }
                i += 1
                return String(decoding: b[(start + 1)..<(i - 1)], as: UTF8.self)
            }
            while i < b.count, (b[i] | 0x20) >= 0x61, (b[i] | 0x20) <= 0x7A { i += 1 }
            return i - start >= 3 ? String(decoding: b[start..<i], as: UTF8.self) : nil
        }

        mutating func number() -> Int64? {
            let start = i
            var value: Int64 = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39, i - start < 6 {
                value = value * 10 + Int64(b[i] - 0x30)
                i += 1
            }
            return i > start ? value : nil
        }

        /// [+-]hh[:mm[:ss]] in seconds.
        mutating func offset() -> Int64? {
            var sign: Int64 = 1
            if accept("-") { sign = -1 } else { _ = accept("+") }
            guard let hours = number() else { return nil }
            var seconds = hours * 3600
            if accept(":") {
                guard let minutes = number() else { return nil }
                seconds += minutes * 60
                if accept(":") {
                    guard let s = number() else { return nil }
                    seconds += s
                }
            }
            return sign * seconds
        }

        mutating func rule() -> (DateRule, Int64)? {
            let date: DateRule
            if accept("J") {
                guard let n = number(), (1...365).contains(n) else { return nil }
                date = .julianNoLeap(n)
            } else if accept("M") {
                guard let m = number(), accept("."), let w = number(), accept("."), let d = number(),
                    (1...12).contains(m), (1...5).contains(w), (0...6).contains(d)
                else { return nil }
                date = .monthWeekDay(m, w, d)
            } else {
                guard let n = number(), (0...365).contains(n) else { return nil }
                date = .zeroBased(n)
            }
            var time: Int64 = 7200
            if accept("/") {
                // TZif version 3 allows -167...167 hours here.
                guard let parsed = offset() else { return nil }
                time = parsed
            }
            return (date, time)
        }
    }
}
