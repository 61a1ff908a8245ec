extension TimePattern {
    /// Milliseconds since the epoch of `text` read with this pattern. Fields the pattern lacks
    /// default to 1970-01-01 00:00:00.000; an offset in the text wins over `zone`.
    func parse(_ text: String, zone: TimeZoneRules) throws(EvaluationError) -> Int64 {
        let b = Array(text.utf8)
        var i = 0
        var year: Int64 = 1970
        var month: Int64 = 1
        var day: Int64 = 1
        var dayOfYear: Int64?
        var hour: Int64 = 0
        var minute: Int64 = 0
        var second: Int64 = 0
        var millis: Int64 = 0
        var pm: Bool?
        var hour12 = false
        var offset: Int64?
        let mismatch = EvaluationError("'\(text)' does not match the time pattern")

        /// Digits for a numeric field: exactly `count` when the next field is numeric too
        /// ("yyyyMMdd"), else as many as there are, up to `maxWidth`.
        func number(_ count: Int, _ maxWidth: Int, adjacent: Bool) throws(EvaluationError) -> Int64 {
            // At most 18 digits: 'yyyyyyyyyyyyyyyyyyyyMM' must not overflow an Int64.
            let width = min(adjacent ? count : maxWidth, 18)
            let start = i
            var value: Int64 = 0
            while i < b.count, i - start < width, b[i] >= 0x30, b[i] <= 0x39 {
                value = value * 10 + Int64(b[i] - 0x30)
                i += 1
            }
            guard i > start, !adjacent || i - start == count else { throw mismatch }
            return value
        }
        func name(_ names: [String], prefix: Int?) throws(EvaluationError) -> Int {
            for (index, full) in names.enumerated() {
                let candidate = Array((prefix.map { String(full.prefix($0)) } ?? full).lowercased().utf8)
                if i + candidate.count <= b.count, b[i..<(i + candidate.count)].map({ $0 | 0x20 }) == candidate {
                    i += candidate.count
                    return index
                }
            }
            throw mismatch
        }

        for (position, field) in fields.enumerated() {
            let adjacent = position + 1 < fields.count && fields[position + 1].isNumeric
            switch field {
            case .literal(let literal):
                let expected = Array(literal.utf8)
                guard i + expected.count <= b.count, Array(b[i..<(i + expected.count)]) == expected else { throw mismatch }
                i += expected.count
            case .year(let n):
                let negative = i < b.count && b[i] == UInt8(ascii: "-") && n != 2
                if negative { i += 1 }
                let value = try number(n, n == 2 ? 2 : 9, adjacent: adjacent || n == 2)
                year = n == 2 ? 2000 + value : (negative ? -value : value)
            case .month(let n):
                month = n >= 3 ? Int64(try name(Self.monthNames, prefix: n == 3 ? 3 : nil)) + 1 : try number(n, 2, adjacent: adjacent)
            case .day(let n): day = try number(n, 2, adjacent: adjacent)
            case .dayOfYear(let n): dayOfYear = try number(n, 3, adjacent: adjacent)
            case .hour(let n): hour = try number(n, 2, adjacent: adjacent)
            case .hour12(let n):
                hour = try number(n, 2, adjacent: adjacent)
                hour12 = true
            case .minute(let n): minute = try number(n, 2, adjacent: adjacent)
            case .second(let n): second = try number(n, 2, adjacent: adjacent)
            case .fraction(let n):
                let start = i
                let value = try number(n, 9, adjacent: adjacent)
                // The digits are a fraction of a second: keep milliseconds.
                var scaled = value
                var digits = i - start
                while digits > 3 {
                    scaled /= 10
                    digits -= 1
                }
                while digits < 3 {
                    scaled *= 10
                    digits += 1
                }
                millis = scaled
            case .ampm: pm = try name(["AM", "PM"], prefix: nil) == 1
            case .weekday(let n): _ = try name(Self.weekdayNames, prefix: n >= 4 ? nil : 3)
            case .offset:
                // Z for UTC is read for every offset letter, as ISO 8601 writes it.
                if i < b.count, b[i] == UInt8(ascii: "Z") {
                    i += 1
                    offset = 0
                } else {
                    offset = try parseOffset(b, &i, mismatch)
                }
            case .zoneName:
                let start = i
                while i < b.count, (b[i] | 0x20) >= 0x61, (b[i] | 0x20) <= 0x7A { i += 1 }
                let abbreviation = String(decoding: b[start..<i], as: UTF8.self).uppercased()
                guard ["UTC", "GMT", "Z", "UT"].contains(abbreviation) else {
                    throw EvaluationError(
                        "cannot read the zone '\(abbreviation)' (only UTC or GMT; give an IANA zone as the third argument)")
                }
                offset = 0
            }
        }
        guard i == b.count else { throw mismatch }
        if let pm {
            guard hour12 ? (1...12).contains(hour) : (0...23).contains(hour) else { throw mismatch }
            hour = hour % 12 + (pm ? 12 : 0)
        }
        // Years 0 to 9999, as everywhere else: also keeps the milliseconds far from overflow.
        guard (0...9999).contains(year), (1...12).contains(month), (0...23).contains(hour), (0...59).contains(minute),
            (0...60).contains(second)
        else {
            throw EvaluationError("'\(text)' is not a valid time")
        }
        var local: Int64
        if let dayOfYear {
            guard (1...(CivilTime.isLeap(year) ? 366 : 365)).contains(dayOfYear) else {
                throw EvaluationError("'\(text)' is not a valid time")
            }
            local = (CivilTime.days(year: year, month: 1, day: 1) + dayOfYear - 1) * 86_400
        } else {
            guard (1...CivilTime.daysInMonth(year: year, month: month)).contains(day) else {
                throw EvaluationError("'\(text)' is not a valid time")
            }
            local = CivilTime.days(year: year, month: month, day: day) * 86_400
        }
        local += hour * 3600 + minute * 60 + second
        let utc = offset.map { local - $0 } ?? zone.utcSeconds(local: local)
        return utc * 1000 + millis
    }

    /// +hh, +hhmm or +hh:mm (or -).
    private func parseOffset(_ b: [UInt8], _ i: inout Int, _ mismatch: EvaluationError) throws(EvaluationError) -> Int64 {
        guard i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { throw mismatch }
        let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
        i += 1
        func two() -> Int64? {
            guard i + 2 <= b.count, b[i] >= 0x30, b[i] <= 0x39, b[i + 1] >= 0x30, b[i + 1] <= 0x39 else { return nil }
            defer { i += 2 }
            return Int64(b[i] - 0x30) * 10 + Int64(b[i + 1] - 0x30)
        }
        guard let hours = two(), hours <= 18 else { throw mismatch }
        if i < b.count, b[i] == UInt8(ascii: ":") { i += 1 }
        let minutes = two() ?? 0
        guard minutes < 60 else { throw mismatch }
        return sign * (hours * 3600 + minutes * 60)
    }
}

extension TimePattern.Field {
    var isNumeric: Bool {
        switch self {
        case .year, .day, .dayOfYear, .hour, .hour12, .minute, .second, .fraction: return true
        case .month(let n): return n < 3
        default: return false
        }
    }
}
