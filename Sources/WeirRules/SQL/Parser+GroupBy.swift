import WeirCore

/// GROUP BY keys and the window: `GROUP BY device, TUMBLING(10s)`.
extension Parser {
    static let windowNames: Set<String> = ["TUMBLING", "HOPPING", "SLIDING", "SESSION", "COUNT"]

    mutating func parseGroupBy(into statement: inout SelectStatement) throws(SQLError) {
        repeat {
            let offset = current.offset
            if case .identifier(let name) = current.kind, Self.windowNames.contains(name.uppercased()),
                tokens[min(position + 1, tokens.count - 1)].isSymbol("(")
            {
                guard statement.window == nil else { throw SQLError("only one window per GROUP BY", at: offset) }
                _ = advance()
                _ = advance()
                statement.window = (try parseWindow(name.uppercased(), offset: offset), offset)
                try expect(symbol: ")", "to close \(name.uppercased())(")
            } else {
                statement.groupBy.append((try parseExpression(), offset))
            }
        } while accept(symbol: ",")
    }

    private mutating func parseWindow(_ name: String, offset: Int) throws(SQLError) -> WindowSpec {
        switch name {
        case "TUMBLING":
            return .tumbling(size: try parseWindowDuration("the window size"))
        case "HOPPING":
            let size = try parseWindowDuration("the window size")
            try expect(symbol: ",", "between HOPPING's size and hop")
            let hop = try parseWindowDuration("the hop")
            guard hop <= size else { throw SQLError("HOPPING's hop must not exceed its size", at: offset) }
            return .hopping(size: size, hop: hop)
        case "SLIDING":
            return .sliding(size: try parseWindowDuration("the window size"))
        case "SESSION":
            let gap = try parseWindowDuration("the session gap")
            let max = accept(symbol: ",") ? try parseWindowDuration("the maximum session length") : nil
            return .session(gap: gap, maxDuration: max)
        default:
            let size = try parseWindowCount("the window size")
            let hop = accept(symbol: ",") ? try parseWindowCount("the hop") : nil
            if let hop, hop > size { throw SQLError("COUNT's hop must not exceed its size", at: offset) }
            return .count(size: size, hop: hop)
        }
    }

    /// `10s`, `500ms`, `1m`, `2h`, `1d` (a number and a unit), or the same as a string: milliseconds.
    private mutating func parseWindowDuration(_ what: String) throws(SQLError) -> Int64 {
        let token = advance()
        let text: String
        switch token.kind {
        case .int(let number):
            guard case .identifier(let unit) = current.kind, current.offset == token.offset + String(number).utf8.count else {
                throw SQLError("\(what) needs a unit: ms, s, m, h or d (as in 10s)", at: token.offset)
            }
            _ = advance()
            text = "\(number)\(unit)"
        case .string(let quoted):
            text = quoted
        default:
            throw SQLError("expected \(what) as a duration such as 10s", at: token.offset)
        }
        let factors: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in factors where text.hasSuffix(suffix) {
            if let value = Int64(text.dropLast(suffix.count)), value > 0, value <= maxDurationMilliseconds / factor {
                return value * factor
            }
        }
        throw SQLError(
            "\(what) must be a positive duration such as 500ms, 10s, 1m, 2h or 1d (at most 36500d), found '\(text)'", at: token.offset)
    }

    private mutating func parseWindowCount(_ what: String) throws(SQLError) -> Int {
        let token = advance()
        guard case .int(let value) = token.kind, value > 0, value <= 1_000_000 else {
            throw SQLError("expected \(what) as a number of events between 1 and 1000000", at: token.offset)
        }
        return Int(value)
    }
}
