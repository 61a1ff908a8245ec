import WeirCore

/// One step of a payload path such as `a.b[0].c`.
enum PathSegment: Sendable, Equatable {
    case key(String)
    case index(Int)
}

enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
    case concat = "||"
    case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    case and = "AND", or = "OR"
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
}

/// A SELECT list item.
enum SelectItem: Sendable {
    case star
    case column(SQLNode, name: String)
}

/// A parsed statement. GROUP BY, HAVING and windows extend this struct.
struct SelectStatement: Sendable {
    var items: [SelectItem]
    var filters: [(String, Int)]
    var whereClause: SQLNode?
}
