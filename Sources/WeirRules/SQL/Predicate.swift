import WeirCore

/// A payload path as a key: rules that name the same path share one resolved value per event.
struct FieldPath: Hashable, Sendable {
    let first: String
    let segments: [PathSegment]
}

/// Numbers the distinct payload paths of a rule set's WHERE clauses (slots).
struct FieldTable: Sendable {
    private(set) var paths: [FieldPath] = []
    private var slots: [FieldPath: Int] = [:]

    mutating func slot(_ path: FieldPath) -> Int {
        if let slot = slots[path] { return slot }
        slots[path] = paths.count
        paths.append(path)
        return paths.count - 1
    }
}

/// One event's payload paths, each resolved the first time a rule asks for it.
struct FieldValues {
    let table: FieldTable
    let payload: JSONValue
    private var values: [JSONValue?]

    init(table: FieldTable, payload: JSONValue) {
        self.table = table
        self.payload = payload
        values = Array(repeating: nil, count: table.paths.count)
    }

    mutating func value(_ slot: Int) -> JSONValue {
        if let value = values[slot] { return value }
        let path = table.paths[slot]
        let value = Evaluator.resolve(path.first, path.segments, in: payload)
        values[slot] = value
        return value
    }
}

/// A WHERE clause compiled against a `FieldTable`: comparisons of a path with a literal, IS NULL
/// and BETWEEN read the event's shared slot and return a truth value without building
/// intermediate `JSONValue`s. Everything else stays a tree for `Evaluator` (`general`).
/// Results, errors and AND/OR short-circuiting are exactly the interpreter's.
indirect enum Predicate: Sendable {
    /// `path op literal`, or `literal op path` when `pathOnLeft` is false. Ordering and equality only.
    case compare(slot: Int, BinaryOperator, JSONValue, pathOnLeft: Bool)
    case between(slot: Int, low: JSONValue, high: JSONValue, negated: Bool)
    case isNull(slot: Int, negated: Bool)
    case and(Predicate, Predicate)
    case or(Predicate, Predicate)
    case not(Predicate)
    case general(SQLNode)

    static func compile(_ node: SQLNode, _ table: inout FieldTable) -> Predicate {
        switch node {
        case .binary(.and, let left, let right, _):
            return .and(compile(left, &table), compile(right, &table))
        case .binary(.or, let left, let right, _):
            return .or(compile(left, &table), compile(right, &table))
        case .binary(let op, .path(let first, let segments), let right, _) where op.isComparison && constant(right) != nil:
            return .compare(slot: table.slot(FieldPath(first: first, segments: segments)), op, constant(right)!, pathOnLeft: true)
        case .binary(let op, let left, .path(let first, let segments), _) where op.isComparison && constant(left) != nil:
            return .compare(slot: table.slot(FieldPath(first: first, segments: segments)), op, constant(left)!, pathOnLeft: false)
        case .between(.path(let first, let segments), let low, let high, let negated, _):
            guard let lowValue = constant(low), let highValue = constant(high) else { return .general(node) }
            let slot = table.slot(FieldPath(first: first, segments: segments))
            return .between(slot: slot, low: lowValue, high: highValue, negated: negated)
        case .isNull(.path(let first, let segments), let negated):
            return .isNull(slot: table.slot(FieldPath(first: first, segments: segments)), negated: negated)
        case .not(let operand, _):
            // NOT of a non-boolean expression has its own error message: leave it to the interpreter.
            let inner = compile(operand, &table)
            if case .general = inner { return .general(node) }
            return .not(inner)
        default:
            return .general(node)
        }
    }

    /// The value of a literal, including a negative number (`-3` parses as a negation).
    static func constant(_ node: SQLNode) -> JSONValue? {
        switch node {
        case .literal(let value): return value
        case .negate(.literal(.int(let i)), _) where i != .min: return .int(-i)
        case .negate(.literal(.double(let d)), _): return .double(-d)
        default: return nil
        }
    }

    /// Whether the clause is true (false and null both reject the event), as `CompiledQuery.matches`.
    func holds(_ fields: inout FieldValues, _ context: EvaluationContext) throws(EvaluationError) -> Bool {
        if case .general(let node) = self {
            guard case .bool(true) = try Evaluator.evaluate(node, context) else { return false }
            return true
        }
        return try truth(&fields, context, "AND") == true
    }

    /// The clause's SQL truth value (nil is unknown). `op` names the operator a `general` operand
    /// belongs to, for the interpreter's error when it is not a bool.
    func truth(_ fields: inout FieldValues, _ context: EvaluationContext, _ op: String) throws(EvaluationError) -> Bool? {
        switch self {
        case .compare(let slot, let op, let literal, let pathOnLeft):
            let value = fields.value(slot)
            return try pathOnLeft ? Self.compare(op, value, literal) : Self.compare(op, literal, value)
        case .between(let slot, let low, let high, let negated):
            let value = fields.value(slot)
            let above = try Evaluator.compare(value, low).map { $0 >= 0 }
            let below = try Evaluator.compare(value, high).map { $0 <= 0 }
            return Evaluator.and(above, below).map { $0 != negated }
        case .isNull(let slot, let negated):
            return fields.value(slot).isNull != negated
        case .and(let left, let right):
            let l = try left.truth(&fields, context, "AND")
            if l == false { return false }
            return Evaluator.and(l, try right.truth(&fields, context, "AND"))
        case .or(let left, let right):
            let l = try left.truth(&fields, context, "OR")
            if l == true { return true }
            let r = try right.truth(&fields, context, "OR")
            if r == true { return true }
            if l == nil || r == nil { return nil }
            return false
        case .not(let operand):
            return try operand.truth(&fields, context, "NOT").map { !$0 }
        case .general(let node):
            return try Evaluator.truth(try Evaluator.evaluate(node, context), op)
        }
    }

    /// `a op b` for a comparison operator, as `Evaluator.binary` computes it.
    @inline(__always)
    static func compare(_ op: BinaryOperator, _ a: JSONValue, _ b: JSONValue) throws(EvaluationError) -> Bool? {
        let order: Int
        switch (a, b) {
        case (.double(let x), .double(let y)): order = x < y ? -1 : (x > y ? 1 : 0)
        case (.double(let x), .int(let j)): order = Self.order(x, Double(j))
        case (.int(let i), .double(let y)): order = Self.order(Double(i), y)
        case (.int(let i), .int(let j)): order = i < j ? -1 : (i > j ? 1 : 0)
        case (.null, _), (_, .null): return nil
        default:
            switch op {
            case .equal: return Evaluator.sqlEqual(a, b)
            case .notEqual: return !Evaluator.sqlEqual(a, b)
            default: order = try Evaluator.compare(a, b)!
            }
        }
        switch op {
        case .equal: return order == 0
        case .notEqual: return order != 0
        case .less: return order < 0
        case .lessOrEqual: return order <= 0
        case .greater: return order > 0
        default: return order >= 0
        }
    }

    @inline(__always)
    private static func order(_ x: Double, _ y: Double) -> Int { x < y ? -1 : (x > y ? 1 : 0) }
}

extension BinaryOperator {
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`: the operators `Predicate.compare` evaluates.
    var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual: return true
        default: return false
        }
    }
}
