import WeirCore

/// One step of a payload path such as `a.b[0].c`.
enum PathSegment: Sendable, Hashable {
    case key(String)
    case index(Int)
}

enum BinaryOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"
    case concat = "||"
    case equal = "="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case and = "AND"
    case or = "OR"
}

enum CastType: String, Sendable {
    case int, float, string, bool
}

/// A compiled expression: the parser builds it, the compiler resolves functions and precompiles
/// LIKE and regex patterns, and the evaluator walks it for each event.
indirect enum SQLNode: Sendable {
    case literal(JSONValue)
    /// A payload path: first key, then further segments.
    case path(String, [PathSegment])
    /// A function call as written; resolved into `.function` at compile time.
    case call(name: String, args: [SQLNode], offset: Int)
    case function(BuiltinFunction, [SQLNode], offset: Int)
    case cast(SQLNode, CastType)
    case negate(SQLNode, offset: Int)
    case not(SQLNode, offset: Int)
    case binary(BinaryOperator, SQLNode, SQLNode, offset: Int)
    case inList(SQLNode, [SQLNode], negated: Bool)
    case between(SQLNode, SQLNode, SQLNode, negated: Bool, offset: Int)
    case like(SQLNode, SQLNode, negated: Bool, offset: Int)
    /// LIKE with a literal pattern, compiled once.
    case likeCompiled(SQLNode, LikePattern, negated: Bool, offset: Int)
    case isNull(SQLNode, negated: Bool)
    case searchedCase([(SQLNode, SQLNode)], otherwise: SQLNode?)
    case simpleCase(SQLNode, [(SQLNode, SQLNode)], otherwise: SQLNode?)
    /// regex_match / regex_replace with a literal pattern, compiled once.
    case regexMatch(SQLNode, CompiledRegex, offset: Int)
    case regexReplace(SQLNode, CompiledRegex, SQLNode, offset: Int)
    /// `lookup('table', key [, 'column'])`, bound to its table at compile time (nil column: the whole row).
    case lookup(LookupTable, SQLNode, column: Int?, offset: Int)
    /// `f(…) OVER (PARTITION BY …)` as parsed; compiled into `.statefulRef`.
    case over(SQLNode, partition: [SQLNode], offset: Int)
    /// The value of the rule's stateful call number n for this event (`EvaluationContext.stateful`).
    case statefulRef(Int)
    /// `*` as the argument of `count(*)`.
    case allRows
    /// In a grouped query's output: the value of aggregate number n, of GROUP BY key number n, and
    /// the bounds of the window being emitted.
    case aggregateRef(Int)
    case groupKeyRef(Int)
    case windowStart
    case windowEnd
}

/// A SELECT list item.
enum SelectItem: Sendable {
    case star
    case column(SQLNode, name: String)
}

/// A parsed statement.
struct SelectStatement: Sendable {
    var items: [SelectItem]
    /// Where each SELECT item starts, for errors about a column.
    var itemOffsets: [Int] = []
    var filters: [(String, Int)]
    var whereClause: SQLNode?
    /// GROUP BY expressions other than the window, with their offsets.
    var groupBy: [(SQLNode, Int)] = []
    var window: (spec: WindowSpec, offset: Int)?
    var having: SQLNode?
}

extension SQLNode {
    /// The node with `transform` applied to each direct child expression.
    func mapChildren<E: Error>(_ transform: (SQLNode) throws(E) -> SQLNode) throws(E) -> SQLNode {
        func all(_ nodes: [SQLNode]) throws(E) -> [SQLNode] {
            var result: [SQLNode] = []
            for node in nodes { result.append(try transform(node)) }
            return result
        }
        func pairs(_ nodes: [(SQLNode, SQLNode)]) throws(E) -> [(SQLNode, SQLNode)] {
            var result: [(SQLNode, SQLNode)] = []
            for (a, b) in nodes { result.append((try transform(a), try transform(b))) }
            return result
        }
        func optional(_ node: SQLNode?) throws(E) -> SQLNode? {
            guard let node else { return nil }
            return try transform(node)
        }
        switch self {
        case .literal, .path, .allRows, .aggregateRef, .groupKeyRef, .windowStart, .windowEnd, .statefulRef:
            return self
        case .over(let call, let partition, let offset): return .over(try transform(call), partition: try all(partition), offset: offset)
        case .call(let name, let args, let offset): return .call(name: name, args: try all(args), offset: offset)
        case .function(let f, let args, let offset): return .function(f, try all(args), offset: offset)
        case .cast(let value, let type): return .cast(try transform(value), type)
        case .negate(let value, let offset): return .negate(try transform(value), offset: offset)
        case .not(let value, let offset): return .not(try transform(value), offset: offset)
        case .binary(let op, let left, let right, let offset): return .binary(op, try transform(left), try transform(right), offset: offset)
        case .inList(let value, let list, let negated): return .inList(try transform(value), try all(list), negated: negated)
        case .between(let value, let low, let high, let negated, let offset):
            return .between(try transform(value), try transform(low), try transform(high), negated: negated, offset: offset)
        case .like(let value, let pattern, let negated, let offset):
            return .like(try transform(value), try transform(pattern), negated: negated, offset: offset)
        case .likeCompiled(let value, let pattern, let negated, let offset):
            return .likeCompiled(try transform(value), pattern, negated: negated, offset: offset)
        case .isNull(let value, let negated): return .isNull(try transform(value), negated: negated)
        case .searchedCase(let branches, let otherwise): return .searchedCase(try pairs(branches), otherwise: try optional(otherwise))
        case .simpleCase(let subject, let branches, let otherwise):
            return .simpleCase(try transform(subject), try pairs(branches), otherwise: try optional(otherwise))
        case .regexMatch(let value, let regex, let offset): return .regexMatch(try transform(value), regex, offset: offset)
        case .regexReplace(let value, let regex, let replacement, let offset):
            return .regexReplace(try transform(value), regex, try transform(replacement), offset: offset)
        case .lookup(let table, let key, let column, let offset): return .lookup(table, try transform(key), column: column, offset: offset)
        }
    }
}
