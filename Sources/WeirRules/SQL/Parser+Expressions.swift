import WeirCore

extension Parser {
    mutating func parseComparison() throws(SQLError) -> SQLNode {
        let left = try parseConcat()
        let offset = current.offset
        let comparisons: [String: BinaryOperator] = [
            "=": .equal, "==": .equal, "!=": .notEqual, "<>": .notEqual,
            "<": .less, "<=": .lessOrEqual, ">": .greater, ">=": .greaterOrEqual,
        ]
        if case .symbol(let s) = current.kind, let op = comparisons[s] {
            _ = advance()
            return .binary(op, left, try parseConcat(), offset: offset)
        }
        if accept(keyword: "IS") {
            let negated = accept(keyword: "NOT")
            guard accept(keyword: "NULL") else {
                throw SQLError("expected NULL after IS\(negated ? " NOT" : ""), found \(current.text)", at: current.offset)
            }
            return .isNull(left, negated: negated)
        }
        var negated = false
        if current.isKeyword("NOT") {
            let next = tokens[min(position + 1, tokens.count - 1)]
            guard next.isKeyword("IN") || next.isKeyword("BETWEEN") || next.isKeyword("LIKE") else { return left }
            _ = advance()
            negated = true
        }
        if accept(keyword: "IN") {
            try expect(symbol: "(", "after IN")
            var list: [SQLNode] = []
            if !current.isSymbol(")") {
                repeat { list.append(try parseExpression()) } while accept(symbol: ",")
            }
            try expect(symbol: ")", "to close the IN list")
            return .inList(left, list, negated: negated)
        }
        if accept(keyword: "BETWEEN") {
            let low = try parseConcat()
            guard accept(keyword: "AND") else { throw SQLError("expected AND in BETWEEN, found \(current.text)", at: current.offset) }
            return .between(left, low, try parseConcat(), negated: negated, offset: offset)
        }
        if accept(keyword: "LIKE") {
            return .like(left, try parseConcat(), negated: negated, offset: offset)
        }
        return left
    }

    mutating func parseConcat() throws(SQLError) -> SQLNode {
        var left = try parseAdditive()
        var chain = 0
        defer { depth -= chain }
        while current.isSymbol("||") {
            let offset = advance().offset
            try deepen(&chain, at: offset)
            left = .binary(.concat, left, try parseAdditive(), offset: offset)
        }
        return left
    }

    mutating func parseAdditive() throws(SQLError) -> SQLNode {
        var left = try parseMultiplicative()
        var chain = 0
        defer { depth -= chain }
        while current.isSymbol("+") || current.isSymbol("-") {
            let token = advance()
            try deepen(&chain, at: token.offset)
            left = .binary(token.isSymbol("+") ? .add : .subtract, left, try parseMultiplicative(), offset: token.offset)
        }
        return left
    }

    mutating func parseMultiplicative() throws(SQLError) -> SQLNode {
        var left = try parseUnary()
        var chain = 0
        defer { depth -= chain }
        while current.isSymbol("*") || current.isSymbol("/") || current.isSymbol("%") {
            let token = advance()
            try deepen(&chain, at: token.offset)
            let op: BinaryOperator = token.isSymbol("*") ? .multiply : token.isSymbol("/") ? .divide : .remainder
            left = .binary(op, left, try parseUnary(), offset: token.offset)
        }
        return left
    }

    mutating func parseUnary() throws(SQLError) -> SQLNode {
        guard current.isSymbol("-") || current.isSymbol("+") else { return try parsePrimary() }
        var sign = 0
        defer { depth -= sign }
        try deepen(&sign, at: current.offset)
        if current.isSymbol("-") {
            let offset = advance().offset
            let operand = try parseUnary()
            // Fold literal negatives so `-5` is a constant.
            switch operand {
            case .literal(.int(let i)): return .literal(.int(-i))
            case .literal(.double(let d)): return .literal(.double(-d))
            default: return .negate(operand, offset: offset)
            }
        }
        if accept(symbol: "+") { return try parseUnary() }
        return try parsePrimary()
    }

    mutating func parsePrimary() throws(SQLError) -> SQLNode {
        let token = advance()
        switch token.kind {
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .string(let s): return .literal(.string(s))
        case .topic:
            throw SQLError("double quotes are for topic filters in FROM; use single quotes for strings", at: token.offset)
        case .symbol("("):
            let inner = try parseExpression()
            try expect(symbol: ")", "to close '('")
            return inner
        case .quotedIdentifier(let name):
            return try parsePath(first: name)
        case .identifier(let name):
            switch name.uppercased() {
            case "TRUE": return .literal(.bool(true))
            case "FALSE": return .literal(.bool(false))
            case "NULL": return .literal(.null)
            case "CASE": return try parseCase()
            case "CAST" where current.isSymbol("("): return try parseCast()
            default: break
            }
            if current.isSymbol("(") {
                _ = advance()
                var args: [SQLNode] = []
                if name.lowercased() == "count", accept(symbol: "*") {
                    args = [.allRows]
                } else if !current.isSymbol(")") {
                    repeat { args.append(try parseArgument()) } while accept(symbol: ",")
                }
                try expect(symbol: ")", "to close the arguments of \(name)")
                let call = SQLNode.call(name: name, args: args, offset: token.offset)
                if current.isKeyword("OVER") { return try parseOver(call) }
                return call
            }
            if ["SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "AS", "IN", "IS", "LIKE", "BETWEEN", "WHEN", "THEN", "ELSE", "END"]
                .contains(name.uppercased())
            {
                throw SQLError("expected an expression, found keyword \(name.uppercased())", at: token.offset)
            }
            return try parsePath(first: name)
        case .end:
            throw SQLError("unexpected end of SQL: expected an expression", at: token.offset)
        case .symbol(let s):
            throw SQLError("unexpected '\(s)'", at: token.offset)
        }
    }

    mutating func parsePath(first: String) throws(SQLError) -> SQLNode {
        var segments: [PathSegment] = []
        while true {
            if accept(symbol: ".") {
                switch advance().kind {
                case .identifier(let key), .quotedIdentifier(let key): segments.append(.key(key))
                default: throw SQLError("expected a field name after '.'", at: tokens[position - 1].offset)
                }
            } else if current.isSymbol("[") {
                _ = advance()
                let token = advance()
                switch token.kind {
                case .int(let i) where i >= 0: segments.append(.index(Int(i)))
                case .string(let key): segments.append(.key(key))
                default: throw SQLError("expected a non-negative index or a quoted key inside [ ]", at: token.offset)
                }
                try expect(symbol: "]", "after the index")
            } else {
                return .path(first, segments)
            }
        }
    }

    mutating func parseCase() throws(SQLError) -> SQLNode {
        var subject: SQLNode?
        if !current.isKeyword("WHEN") { subject = try parseExpression() }
        var branches: [(SQLNode, SQLNode)] = []
        while accept(keyword: "WHEN") {
            let condition = try parseExpression()
            guard accept(keyword: "THEN") else { throw SQLError("expected THEN, found \(current.text)", at: current.offset) }
            branches.append((condition, try parseExpression()))
        }
        guard !branches.isEmpty else { throw SQLError("CASE needs at least one WHEN, found \(current.text)", at: current.offset) }
        var otherwise: SQLNode?
        if accept(keyword: "ELSE") { otherwise = try parseExpression() }
        guard accept(keyword: "END") else { throw SQLError("expected END to close CASE, found \(current.text)", at: current.offset) }
        if let subject { return .simpleCase(subject, branches, otherwise: otherwise) }
        return .searchedCase(branches, otherwise: otherwise)
    }

    mutating func parseCast() throws(SQLError) -> SQLNode {
        try expect(symbol: "(", "after CAST")
        let value = try parseExpression()
        guard accept(keyword: "AS") else { throw SQLError("expected AS in CAST, found \(current.text)", at: current.offset) }
        let typeToken = advance()
        guard case .identifier(let name) = typeToken.kind, let type = CastType(sqlName: name) else {
            throw SQLError("unknown type in CAST (expected int, float, string or bool)", at: typeToken.offset)
        }
        try expect(symbol: ")", "to close CAST")
        return .cast(value, type)
    }
}

extension CastType {
    init?(sqlName: String) {
        switch sqlName.lowercased() {
        case "int", "integer", "bigint": self = .int
        case "float", "double", "decimal", "real", "number": self = .float
        case "string", "str", "varchar", "text": self = .string
        case "bool", "boolean": self = .bool
        default: return nil
        }
    }
}

extension Parser {
    /// A function argument: an expression, or a duration written as in windows (`5m`), which is
    /// the string `'5m'`.
    mutating func parseArgument() throws(SQLError) -> SQLNode {
        if case .int(let number) = current.kind, position + 1 < tokens.count, case .identifier(let unit) = tokens[position + 1].kind,
            tokens[position + 1].offset == current.offset + String(number).utf8.count,
            ["ms", "s", "m", "h", "d"].contains(unit)
        {
            _ = advance()
            _ = advance()
            return .literal(.string("\(number)\(unit)"))
        }
        return try parseExpression()
    }

    /// `OVER (PARTITION BY expr, …)` or `OVER ()` after a call.
    mutating func parseOver(_ call: SQLNode) throws(SQLError) -> SQLNode {
        let offset = advance().offset
        try expect(symbol: "(", "after OVER")
        var partition: [SQLNode] = []
        if accept(keyword: "PARTITION") {
            guard accept(keyword: "BY") else { throw SQLError("expected BY after PARTITION, found \(current.text)", at: current.offset) }
            repeat { partition.append(try parseExpression()) } while accept(symbol: ",")
        }
        try expect(symbol: ")", "to close OVER (PARTITION BY …)")
        return .over(call, partition: partition, offset: offset)
    }
}
