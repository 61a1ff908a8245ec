import Glibc
import Testing
import WeirCore

@testable import WeirRules

/// The time functions against glibc's own reading of the same tzdata files (localtime_r and
/// strftime with TZ set): an independent implementation of TZif and POSIX TZ rules.
@Suite(.serialized) struct SQLTimeFunctionTests {
    static let zones = [
        "UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Europe/Dublin", "America/Sao_Paulo",
        "Pacific/Chatham", "Asia/Tehran", "America/St_Johns", "Africa/Casablanca",
    ]

    /// localtime_r's fields and strftime's text of `seconds` in `zone`.
    static func glibc(_ seconds: Int64, _ zone: String, _ format: String) -> (tm, String) {
        setenv("TZ", ":" + zone, 1)
        tzset()
        var t = time_t(seconds)
        var fields = tm()
        localtime_r(&t, &fields)
        var buffer = [CChar](repeating: 0, count: 128)
        let count = strftime(&buffer, buffer.count, format, &fields)
        unsetenv("TZ")
        tzset()
        return (fields, String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    @Test func calendarFieldsAndFormatMatchGlibcOnRandomTimes() throws {
        var generator = SystemRandomNumberGenerator()
        for zone in Self.zones {
            // 1900 to 2100: before, inside and after each file's transition table (the footer rule).
            for _ in 0..<300 {
                let seconds = Int64.random(in: -2_208_988_800...4_102_444_800, using: &generator)
                let millis = seconds * 1000 + Int64.random(in: 0...999, using: &generator)
                let (fields, text) = Self.glibc(seconds, zone, "%Y-%m-%d %H:%M:%S %z %a")
                let payload: JSONValue = ["t": .int(millis), "z": .string(zone)]
                let formatted = try eval("format_time(t, 'yyyy-MM-dd HH:mm:ss Z EEE', z)", payload)
                #expect(formatted == .string(text), "\(zone) at \(seconds)")
                #expect(try eval("hour(t, z)", payload) == .int(Int64(fields.tm_hour)))
                #expect(try eval("minute(t, z)", payload) == .int(Int64(fields.tm_min)))
                #expect(try eval("day(t, z)", payload) == .int(Int64(fields.tm_mday)))
                #expect(try eval("month(t, z)", payload) == .int(Int64(fields.tm_mon + 1)))
                #expect(try eval("year(t, z)", payload) == .int(Int64(fields.tm_year + 1900)))
                #expect(try eval("day_of_year(t, z)", payload) == .int(Int64(fields.tm_yday + 1)))
                #expect(try eval("day_of_week(t, z)", payload) == .int(fields.tm_wday == 0 ? 7 : Int64(fields.tm_wday)))
                // Round trip through the text, with the offset in it: exact to the millisecond
                // (but for local mean times, whose offsets have seconds that no pattern writes).
                guard fields.tm_gmtoff % 60 == 0 else { continue }
                let back = try eval(
                    "parse_time(format_time(t, 'yyyy-MM-dd''T''HH:mm:ss.SSSXXX', z), 'yyyy-MM-dd''T''HH:mm:ss.SSSXXX')", payload)
                #expect(back == .int(millis), "\(zone) at \(millis)")
            }
        }
    }

    @Test func transitionsAreExactToTheSecond() throws {
        // Berlin went to summer time at 2025-03-30 01:00:00 UTC, back at 2025-10-26 01:00:00 UTC.
        #expect(try eval("hour(1743296399000, 'Europe/Berlin')") == 1)
        #expect(try eval("hour(1743296400000, 'Europe/Berlin')") == 3)
        #expect(try eval("format_time(1761440399000, 'HH:mm z', 'Europe/Berlin')") == "02:59 CEST")
        #expect(try eval("format_time(1761440400000, 'HH:mm z', 'Europe/Berlin')") == "02:00 CET")
        // 2080 is past every table: the footer's rule (last Sunday of March) decides.
        #expect(try eval("format_time(parse_time('2080-03-31 12:00', 'yyyy-MM-dd HH:mm'), 'HH:mm', 'Europe/Berlin')") == "14:00")
    }

    @Test func formatPatterns() throws {
        let t: JSONValue = ["t": 1_700_000_000_123]  // 2023-11-14T22:13:20.123Z, a Tuesday
        #expect(try eval("format_time(t, 'yyyy-MM-dd''T''HH:mm:ss.SSSZ')", t) == "2023-11-14T22:13:20.123+0000")
        #expect(try eval("format_time(t, 'yyyy-MM-dd''T''HH:mm:ss.SSSXXX')", t) == "2023-11-14T22:13:20.123Z")
        #expect(try eval("format_time(t, 'EEEE d MMMM yy, h:mm a')", t) == "Tuesday 14 November 23, 10:13 PM")
        #expect(try eval("format_time(t, 'EEE MMM D S SS ''''')", t) == "Tue Nov 318 1 12 '")
        #expect(try eval("format_time(t, 'HH:mmZZ', 'Asia/Kolkata')", t) == "03:43+05:30")
        #expect(try eval("format_time('2023-11-14T22:13:20Z', 'yyyyMMdd')") == "20231114")
        #expect(try eval("format_time(1.7e12, 'yyyy')") == "2023")
    }

    @Test func parsePatterns() throws {
        #expect(try eval("parse_time('2023-11-14 22:13:20', 'yyyy-MM-dd HH:mm:ss')") == 1_700_000_000_000)
        #expect(try eval("parse_time('20231114221320', 'yyyyMMddHHmmss')") == 1_700_000_000_000)
        #expect(try eval("parse_time('14/11/2023 11:13 PM', 'dd/MM/yyyy hh:mm a', 'Europe/Berlin')") == 1_699_999_980_000)
        #expect(try eval("parse_time('Nov 14, 2023 22:13:20.1 UTC', 'MMM d, yyyy HH:mm:ss.S z')") == 1_700_000_000_100)
        #expect(try eval("parse_time('2023-11-14T23:13:20+01:00', 'yyyy-MM-dd''T''HH:mm:ssXXX')") == 1_700_000_000_000)
        #expect(try eval("time_to_epoch('2023-318', 'yyyy-D')") == 1_699_920_000_000)
        #expect(evalError("parse_time('2023-02-30', 'yyyy-MM-dd')") == "'2023-02-30' is not a valid time")
        // A year the pattern allows but the time range does not: an error, not an overflow.
        #expect(evalError("parse_time('999999999', 'yyyy')") == "'999999999' is not a valid time")
        #expect(evalError("parse_time('-5-01', 'yyyy-MM')") == "'-5-01' is not a valid time")
        #expect(evalError("parse_time('2023-11-14x', 'yyyy-MM-dd')") == "'2023-11-14x' does not match the time pattern")
        #expect(evalError("parse_time('yyyy', 1700000000000)")?.contains("to write one use format_time") == true)
    }

    @Test func typedResultsAndNulls() throws {
        for call in [
            "format_time(null, 'yyyy')", "format_time(1, null)", "parse_time(null, 'yyyy')", "hour(null)", "hour(1, null)",
            "day_of_week(missing)", "year(missing, 'Europe/Berlin')",
        ] {
            #expect(try eval(call) == .null, "\(call)")
        }
        guard case .int(let now) = try eval("now()") else {
            Issue.record("now() is not an int")
            return
        }
        #expect(Swift.abs(now - currentTimeMillis()) < 60_000)
        #expect(try eval("day_of_week(0)") == 4)  // 1970-01-01, a Thursday
        #expect(try eval("hour(-1)") == 23)
        #expect(evalError("hour('noon')") == "hour needs epoch milliseconds or an RFC 3339 time, got 'noon'")
        #expect(evalError("hour(true)") == "hour needs a time (epoch milliseconds), got bool")
        #expect(evalError("hour(1, z)", ["z": "Mars/Olympus"])?.hasPrefix("unknown time zone 'Mars/Olympus'") == true)
        #expect(evalError("hour(1, z)", ["z": "../../etc/passwd"])?.hasPrefix("unknown time zone") == true)
        #expect(evalError("year(300000000000000)")?.contains("outside the years 0 to 9999") == true)
    }

    @Test(arguments: [
        (#"SELECT hour(t, 'Europe/Berln') FROM "t""#, "unknown time zone 'Europe/Berln'", 7),
        (#"SELECT format_time(t, 'yyyy-qq') FROM "t""#, "time pattern 'yyyy-qq': unknown pattern letter 'q'", 7),
        (#"SELECT a, parse_time(t, 'yyyy''') FROM "t""#, "time pattern 'yyyy'' has an unterminated quote", 10),
        (#"SELECT format_time(t) FROM "t""#, "function 'format_time' takes 2 or 3 arguments, got 1", 7),
        (#"SELECT now(1) FROM "t""#, "function 'now' takes 0 arguments, got 1", 7),
    ])
    func compileErrorsHavePositions(sql: String, message: String, offset: Int) {
        let error = #expect(throws: SQLError.self) { try CompiledQuery(sql: sql) }
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "")")
        #expect(error?.offset == offset)
    }

    /// Through the rule loader: the error is at the call's line and column in the file.
    @Test func ruleFilesReportAConstantZoneTypoAtItsPosition() {
        let text = "name: shifts\nsql: SELECT device FROM \"s/#\" WHERE hour(timestamp(), 'Europe/Berln') > 6\nactions: [ { log: {} } ]\n"
        let (_, errors) = RuleLoader.parse(text, file: "shifts.yaml")
        #expect(
            errors.map { "\($0.location.line):\($0.location.column): \($0.message)" }
                == ["2:37: unknown time zone 'Europe/Berln' (no such file in /usr/share/zoneinfo; is tzdata installed?)"])
    }

    @Test func posixFooterRules() throws {
        let sydney = try #require(PosixTimeZone("AEST-10AEDT,M10.1.0,M4.1.0/3"))
        // Southern hemisphere: daylight time spans the new year.
        #expect(sydney.localType(at: 1_704_067_200).abbreviation == "AEDT")  // 2024-01-01
        #expect(sydney.localType(at: 1_719_792_000).abbreviation == "AEST")  // 2024-07-01
        let fixed = try #require(PosixTimeZone("<+0330>-3:30"))
        #expect(fixed.localType(at: 0).offset == 12_600)
        #expect(PosixTimeZone("EST5EDT,M3.2.0") == nil)
        #expect(PosixTimeZone("X1") == nil)
    }
}
