/// A LIKE pattern: `%` any run, `_` one character, `\` escapes the next character. Case-sensitive.
struct LikePattern: Sendable {
    enum Piece: Sendable, Equatable {
        case literal(Character)
        case one
        case any
    }

    let pieces: [Piece]

    init(_ pattern: String) {
        var pieces: [Piece] = []
        var escaped = false
        for c in pattern {
            if escaped {
                pieces.append(.literal(c))
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "%" {
                if pieces.last != .any { pieces.append(.any) }
            } else if c == "_" {
                pieces.append(.one)
            } else {
                pieces.append(.literal(c))
            }
        }
        if escaped { pieces.append(.literal("\\")) }
        self.pieces = pieces
    }

    /// Iterative matching with backtracking to the last `%`: linear for typical patterns and never
    /// exponential.
    func matches(_ text: String) -> Bool {
        let chars = Array(text)
        var p = 0
        var t = 0
        var star = -1
        var mark = 0
        while t < chars.count {
            if p < pieces.count {
                switch pieces[p] {
                case .any:
                    star = p
                    mark = t
                    p += 1
                    continue
                case .one:
                    p += 1
                    t += 1
                    continue
                case .literal(let c) where c == chars[t]:
                    p += 1
                    t += 1
                    continue
                default: break
                }
            }
            guard star >= 0 else { return false }
            p = star + 1
            mark += 1
            t = mark
        }
        while p < pieces.count, pieces[p] == .any { p += 1 }
        return p == pieces.count
    }
}

/// A compiled regular expression. `Regex` is an immutable value; the box only states that.
struct CompiledRegex: @unchecked Sendable {
    let regex: Regex<AnyRegexOutput>
    let pattern: String

    init(_ pattern: String) throws {
        regex = try Regex(pattern)
        self.pattern = pattern
    }

    func matches(_ text: String) -> Bool {
        (try? regex.firstMatch(in: text)) != nil
    }

    func replace(in text: String, with replacement: String) -> String {
        text.replacing(regex, with: replacement)
    }
}
