import Synchronization
import WeirRegex

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

/// A compiled regular expression (PCRE2 syntax) whose matches have a bounded cost: an input that
/// would make it backtrack past its bound is an evaluation error for that event, not a stall.
struct CompiledRegex: Sendable {
    let compiled: CompiledPattern
    var pattern: String { compiled.pattern }

    init(_ pattern: String) throws(RegexError) {
        compiled = try CompiledPattern(pattern)
    }

    init(_ compiled: CompiledPattern) {
        self.compiled = compiled
    }

    /// The regex for a pattern computed per event (not a literal): compiled once per distinct
    /// pattern through a small cache shared by all rules.
    static func cached(_ pattern: String) throws(RegexError) -> CompiledRegex {
        try CompiledRegex(RegexCache.shared.pattern(pattern))
    }

    func matches(_ text: String) throws(EvaluationError) -> Bool {
        do {
            return try compiled.matches(text)
        } catch {
            throw EvaluationError(error.limitExceeded ? "regex_match on '\(pattern)': \(error)" : "regex_match failed: \(error)")
        }
    }

    func replace(in text: String, with replacement: String) throws(EvaluationError) -> String {
        do {
            return try compiled.replacingMatches(in: text, with: replacement)
        } catch {
            throw EvaluationError(error.limitExceeded ? "regex_replace on '\(pattern)': \(error)" : "regex_replace failed: \(error)")
        }
    }
}

/// Compiled patterns by text, at most `capacity` of them; past that the least recently used goes.
final class RegexCache: Sendable {
    static let shared = RegexCache(capacity: 256)

    private struct State {
        var entries: [String: (pattern: CompiledPattern, used: UInt64)] = [:]
        var clock: UInt64 = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    func pattern(_ text: String) throws(RegexError) -> CompiledPattern {
        let hit = state.withLock { s -> CompiledPattern? in
            s.clock += 1
            guard let entry = s.entries[text] else { return nil }
            s.entries[text] = (entry.pattern, s.clock)
            return entry.pattern
        }
        if let hit { return hit }
        let compiled = try CompiledPattern(text)
        state.withLock { s in
            if s.entries.count >= capacity, let oldest = s.entries.min(by: { $0.value.used < $1.value.used })?.key {
                s.entries.removeValue(forKey: oldest)
            }
            s.entries[text] = (compiled, s.clock)
        }
        return compiled
    }

    var count: Int { state.withLock { $0.entries.count } }
}
