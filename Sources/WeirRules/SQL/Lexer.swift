/// A lexical token of the rule SQL, with its UTF-8 byte offset.
struct Token: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case identifier(String)
        /// A backquoted identifier: never a keyword.
        case quotedIdentifier(String)
        case string(String)
        /// A double-quoted string: a topic filter in FROM.
        case topic(String)
        case int(Int64)
        case double(Double)
        case symbol(String)
        case end
    }

    var kind: Kind
    var offset: Int

    /// Whether this token is the keyword `word` (case-insensitive, never a quoted identifier).
    func isKeyword(_ word: String) -> Bool {
        if case .identifier(let name) = kind { return name.uppercased() == word }
        return false
    }

    func isSymbol(_ symbol: String) -> Bool { kind == .symbol(symbol) }

    var text: String {
        switch kind {
        case .identifier(let s): return s
        case .quotedIdentifier(let s): return "`\(s)`"
        case .string(let s): return "'\(s)'"
        case .topic(let s): return "\"\(s)\""
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .symbol(let s): return s
        case .end: return "end of SQL"
        }
    }
}

/// Splits SQL text into tokens.
enum Lexer {
    static func tokenize(_ sql: String) throws(SQLError) -> [Token] {
        let bytes = Array(sql.utf8)
        var tokens: [Token] = []
        var i = 0
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        while i < bytes.count {
            let c = bytes[i]
            let start = i
            switch c {
            case 0x20, 0x09, 0x0A, 0x0D:
                i += 1
            case UInt8(ascii: "-") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "-"):
                // A comment runs to the end of the line.
                while i < bytes.count && bytes[i] != 0x0A { i += 1 }
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                var value: [UInt8] = []
                i += 1
                var closed = false
                while i < bytes.count {
                    if bytes[i] == c {
                        // A doubled quote stands for one quote character.
                        if i + 1 < bytes.count && bytes[i + 1] == c {
                            value.append(c)
                            i += 2
                            continue
                        }
                        closed = true
                        i += 1
                        break
                    }
                    value.append(bytes[i])
                    i += 1
                }
                guard closed else {
                    let what = c == UInt8(ascii: "'") ? "string" : c == UInt8(ascii: "\"") ? "topic filter" : "quoted identifier"
                    throw SQLError("unterminated \(what)", at: start)
                }
                let s = String(decoding: value, as: UTF8.self)
                let kind: Token.Kind =
                    c == UInt8(ascii: "'") ? .string(s) : c == UInt8(ascii: "\"") ? .topic(s) : .quotedIdentifier(s)
                tokens.append(Token(kind: kind, offset: start))
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                var isDouble = false
                while i < bytes.count, isDigit(bytes[i]) { i += 1 }
                if i + 1 < bytes.count, bytes[i] == UInt8(ascii: "."), isDigit(bytes[i + 1]) {
                    isDouble = true
                    i += 1
                    while i < bytes.count, isDigit(bytes[i]) { i += 1 }
                }
                if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                    var j = i + 1
                    if j < bytes.count, bytes[j] == UInt8(ascii: "+") || bytes[j] == UInt8(ascii: "-") { j += 1 }
                    if j < bytes.count, isDigit(bytes[j]) {
                        isDouble = true
                        i = j
                        while i < bytes.count, isDigit(bytes[i]) { i += 1 }
                    }
                }
                let literal = text(start..<i)
                if !isDouble, let value = Int64(literal) {
                    tokens.append(Token(kind: .int(value), offset: start))
                } else if let value = Double(literal) {
                    tokens.append(Token(kind: .double(value), offset: start))
                } else {
                    throw SQLError("invalid number '\(literal)'", at: start)
                }
            case _ where isIdentifierStart(c):
                while i < bytes.count, isIdentifierStart(bytes[i]) || isDigit(bytes[i]) { i += 1 }
                tokens.append(Token(kind: .identifier(text(start..<i)), offset: start))
            default:
                let two = i + 1 < bytes.count ? text(i..<(i + 2)) : ""
                if ["<=", ">=", "<>", "!=", "==", "||"].contains(two) {
                    tokens.append(Token(kind: .symbol(two), offset: start))
                    i += 2
                } else if "(),.*+-/%=<>[]".utf8.contains(c) {
                    tokens.append(Token(kind: .symbol(String(UnicodeScalar(c))), offset: start))
                    i += 1
                } else {
                    let character =
                        String(sql.utf8[sql.utf8.index(sql.utf8.startIndex, offsetBy: i)...].prefix(4)).map { String($0.prefix(1)) } ?? "?"
                    throw SQLError("unexpected character '\(character)'", at: start)
                }
            }
        }
        tokens.append(Token(kind: .end, offset: bytes.count))
        return tokens
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    static func isIdentifierStart(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || c == UInt8(ascii: "_") || c == UInt8(ascii: "$") || c >= 0x80
    }
}
