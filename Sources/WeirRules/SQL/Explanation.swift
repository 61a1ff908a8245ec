import WeirCore

/// Why a rule's WHERE held or not for one event, conjunct by conjunct (`weir explain`).
public struct WhereExplanation: Sendable {
    /// What one conjunct (a term of the top-level AND) came to.
    public enum Outcome: Sendable, Equatable {
        case isTrue
        case isFalse
        /// Null: SQL's unknown, which fails WHERE. `missing` names the payload fields it read that
        /// the event does not have (the usual reason).
        case isNull(missing: [String])
        /// The evaluation failed (a type error, a regex past its bound): the rule errs on the event.
        case error(String)
    }

    public struct Conjunct: Sendable {
        /// The conjunct as written in the rule's SQL.
        public var text: String
        public var outcome: Outcome
    }

    /// Empty when the rule has no WHERE.
    public var conjuncts: [Conjunct]

    /// Whether every conjunct is true (the event passes WHERE).
    public var holds: Bool { conjuncts.allSatisfy { $0.outcome == .isTrue } }
}

extension CompiledQuery {
    /// Evaluates WHERE one top-level conjunct at a time; `sql` is the rule's text, for the
    /// conjuncts' wording. Conjuncts are all evaluated (no short circuit), so every reason shows.
    /// `stateful` holds the event's values of the rule's stateful calls (`EventOutcome.statefulValues`).
    public func explainWhere(_ context: EvaluationContext, sql: String, stateful: [JSONValue] = []) -> WhereExplanation {
        guard let whereClause else { return WhereExplanation(conjuncts: []) }
        var context = context
        context.stateful = stateful
        var nodes: [SQLNode] = []
        var pending = [whereClause]
        // Right to left onto a stack so that the conjuncts come out in source order.
        while let node = pending.popLast() {
            if case .binary(.and, let left, let right, _) = node {
                pending.append(right)
                pending.append(left)
            } else {
                nodes.append(node)
            }
        }
        let texts = Self.conjunctTexts(sql)
        var conjuncts: [WhereExplanation.Conjunct] = []
        for (index, node) in nodes.enumerated() {
            let text = texts.count == nodes.count ? texts[index] : "condition \(index + 1)"
            let outcome: WhereExplanation.Outcome
            do {
                switch try Evaluator.evaluate(node, context) {
                case .bool(true): outcome = .isTrue
                case .null: outcome = .isNull(missing: Self.missingFields(node, context.payload))
                case .bool(false): outcome = .isFalse
                case let other: outcome = .error("WHERE needs a bool, got \(other.typeName)")
                }
            } catch {
                outcome = .error(error.description)
            }
            conjuncts.append(WhereExplanation.Conjunct(text: text, outcome: outcome))
        }
        return WhereExplanation(conjuncts: conjuncts)
    }

    /// The texts of the top-level conjuncts of the WHERE clause in `sql`: split at each AND outside
    /// parentheses, CASE … END and BETWEEN … AND. Empty when the SQL cannot be read.
    static func conjunctTexts(_ sql: String) -> [String] {
        guard let tokens = try? Lexer.tokenize(sql), let start = tokens.firstIndex(where: { $0.isKeyword("WHERE") }) else { return [] }
        let bytes = Array(sql.utf8)
        var pieces: [String] = []
        var pieceStart = start + 1
        var depth = 0
        var cases = 0
        var betweens = 0
        func close(at end: Int) {
            guard pieceStart < tokens.count else { return }
            let from = tokens[pieceStart].offset
            let to = min(end, bytes.count)
            let text = String(decoding: bytes[from..<max(from, to)], as: UTF8.self)
            pieces.append(text.trimmingWhitespaceAndNewlines())
        }
        var index = start + 1
        while index < tokens.count {
            let token = tokens[index]
            if token.kind == .end || (depth == 0 && cases == 0 && (token.isKeyword("GROUP") || token.isKeyword("HAVING"))) {
                close(at: token.kind == .end ? bytes.count : token.offset)
                return pieces
            }
            if token.isSymbol("(") { depth += 1 }
            if token.isSymbol(")") { depth -= 1 }
            if token.isKeyword("CASE") { cases += 1 }
            if token.isKeyword("END") { cases -= 1 }
            if token.isKeyword("BETWEEN") { betweens += 1 }
            if token.isKeyword("AND"), depth == 0, cases == 0 {
                if betweens > 0 {
                    betweens -= 1
                } else {
                    close(at: token.offset)
                    pieceStart = index + 1
                }
            }
            index += 1
        }
        close(at: bytes.count)
        return pieces
    }

    /// The payload paths `node` reads that the payload does not have, as written (`a.b[0]`).
    static func missingFields(_ node: SQLNode, _ payload: JSONValue) -> [String] {
        var missing: [String] = []
        var pending = [node]
        while let next = pending.popLast() {
            if case .path(let first, let segments) = next {
                if Evaluator.resolve(first, segments, in: payload) == .null { missing.append(canonical(next)) }
                continue
            }
            _ = next.mapChildren { (child: SQLNode) -> SQLNode in
                pending.append(child)
                return child
            }
        }
        return Array(Set(missing)).sorted()
    }
}
