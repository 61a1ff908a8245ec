import WeirCore

/// A recursive-descent parser for `SELECT … FROM "…" [WHERE …]` with standard SQL precedence:
/// OR < AND < NOT < comparison/IN/BETWEEN/LIKE/IS < || < + - < * / % < unary minus.
struct Parser {
    var tokens: [Token]
    var position = 0
    /// Nesting bound, so a hostile or broken rule cannot exhaust the stack.
    var depth = 0
    /// The deepest expression tree: nesting (parentheses, NOT, signs) and operator chains
    /// (`a OR b OR …` builds a tree as deep as it is long) together. The compiler and evaluator walk
    /// trees recursively, so an unbounded tree overflows the stack (found by fuzzing).
    static let maxDepth = 500

    init(_ sql: String) throws(SQLError) {
        tokens = try Lexer.tokenize(sql)
    }

    var current: Token { tokens[position] }

    mutating func advance() -> Token {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    mutating func accept(keyword: String) -> Bool {
        guard current.isKeyword(keyword) else { return false }
        _ = advance()
        return true
    }

    mutating func accept(symbol: String) -> Bool {
        guard current.isSymbol(symbol) else { return false }
        _ = advance()
        return true
    }

    mutating func expect(symbol: String, _ context: String) throws(SQLError) {
        guard accept(symbol: symbol) else { throw SQLError("expected '\(symbol)' \(context), found \(current.text)", at: current.offset) }
    }

    mutating func parseStatement() throws(SQLError) -> SelectStatement {
        guard accept(keyword: "SELECT") else { throw SQLError("expected SELECT, found \(current.text)", at: current.offset) }
        var items: [SelectItem] = []
        var itemOffsets: [Int] = []
        repeat {
            itemOffsets.append(current.offset)
            items.append(try parseSelectItem(position: items.count + 1))
        } while accept(symbol: ",")
        guard accept(keyword: "FROM") else {
            throw SQLError("expected FROM after select list, found \(current.text)", at: current.offset)
        }
        var filters: [(String, Int)] = []
        repeat {
            guard case .topic(let filter) = current.kind else {
                throw SQLError("expected a double-quoted topic filter after FROM, found \(current.text)", at: current.offset)
            }
            filters.append((filter, current.offset + 1))
            _ = advance()
        } while accept(symbol: ",")
        var whereClause: SQLNode?
        if accept(keyword: "WHERE") { whereClause = try parseExpression() }
        var statement = SelectStatement(items: items, filters: filters, whereClause: whereClause)
        statement.itemOffsets = itemOffsets
        if accept(keyword: "GROUP") {
            guard accept(keyword: "BY") else { throw SQLError("expected BY after GROUP, found \(current.text)", at: current.offset) }
            try parseGroupBy(into: &statement)
        }
        if current.isKeyword("HAVING") {
            let offset = advance().offset
            guard !statement.groupBy.isEmpty || statement.window != nil else {
                throw SQLError("HAVING needs a GROUP BY", at: offset)
            }
            statement.having = try parseExpression()
        }
        guard case .end = current.kind else { throw SQLError("unexpected \(current.text)", at: current.offset) }
        return statement
    }

    mutating func parseSelectItem(position: Int) throws(SQLError) -> SelectItem {
        if accept(symbol: "*") { return .star }
        let node = try parseExpression()
        if accept(keyword: "AS") {
            switch advance().kind {
            case .identifier(let name), .quotedIdentifier(let name), .string(let name): return .column(node, name: name)
            default: throw SQLError("expected a column name after AS", at: tokens[self.position - 1].offset)
            }
        }
        return .column(node, name: Self.defaultName(node, position: position))
    }

    static func defaultName(_ node: SQLNode, position: Int) -> String {
        switch node {
        case .path(let first, let segments):
            for segment in segments.reversed() {
                if case .key(let key) = segment { return key }
            }
            return first
        case .call(let name, _, _), .over(.call(let name, _, _), _, _): return name.lowercased()
        default: return "col\(position)"
        }
    }

    mutating func parseExpression() throws(SQLError) -> SQLNode {
        depth += 1
        defer { depth -= 1 }
        guard depth < Self.maxDepth else { throw Self.tooDeep(at: current.offset) }
        return try parseOr()
    }

    mutating func parseOr() throws(SQLError) -> SQLNode {
        var left = try parseAnd()
        var chain = 0
        defer { depth -= chain }
        while current.isKeyword("OR") {
            let offset = advance().offset
            try deepen(&chain, at: offset)
            left = .binary(.or, left, try parseAnd(), offset: offset)
        }
        return left
    }

    mutating func parseAnd() throws(SQLError) -> SQLNode {
        var left = try parseNot()
        var chain = 0
        defer { depth -= chain }
        while current.isKeyword("AND") {
            let offset = advance().offset
            try deepen(&chain, at: offset)
            left = .binary(.and, left, try parseNot(), offset: offset)
        }
        return left
    }

    mutating func parseNot() throws(SQLError) -> SQLNode {
        if current.isKeyword("NOT") {
            let offset = advance().offset
            depth += 1
            defer { depth -= 1 }
            guard depth < Self.maxDepth else { throw Self.tooDeep(at: offset) }
            return .not(try parseNot(), offset: offset)
        }
        return try parseComparison()
    }

    /// One more operator in a chain: the tree is one level deeper until the chain's loop ends.
    mutating func deepen(_ chain: inout Int, at offset: Int) throws(SQLError) {
        depth += 1
        chain += 1
        guard depth < Self.maxDepth else { throw Self.tooDeep(at: offset) }
    }

    static func tooDeep(at offset: Int) -> SQLError {
        SQLError("expression nested too deeply, or too long a chain of operators (more than \(maxDepth) levels)", at: offset)
    }
}
