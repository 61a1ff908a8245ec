import WeirCore

extension Evaluator {
    static func binary(_ op: BinaryOperator, _ leftNode: SQLNode, _ rightNode: SQLNode, _ context: EvaluationContext)
        throws(EvaluationError) -> JSONValue
    {
        switch op {
        case .and:
            // Short-circuit: false AND anything is false without evaluating the right side.
            let left = try truth(try evaluate(leftNode, context), "AND")
            if left == false { return .bool(false) }
            let right = try truth(try evaluate(rightNode, context), "AND")
            return and(left, right).map(JSONValue.bool) ?? .null
        case .or:
            let left = try truth(try evaluate(leftNode, context), "OR")
            if left == true { return .bool(true) }
            let right = try truth(try evaluate(rightNode, context), "OR")
            if right == true { return .bool(true) }
            if left == nil || right == nil { return .null }
            return .bool(false)
        default:
            break
        }
        let left = try evaluate(leftNode, context)
        let right = try evaluate(rightNode, context)
        if left.isNull || right.isNull { return .null }
        switch op {
        case .equal: return .bool(sqlEqual(left, right))
        case .notEqual: return .bool(!sqlEqual(left, right))
        case .less: return .bool(try compare(left, right)! < 0)
        case .lessOrEqual: return .bool(try compare(left, right)! <= 0)
        case .greater: return .bool(try compare(left, right)! > 0)
        case .greaterOrEqual: return .bool(try compare(left, right)! >= 0)
        case .concat: return .string(text(left) + text(right))
        default: return try arithmetic(op, left, right)
        }
    }

    /// The text of a value for concatenation: strings as they are, others as JSON.
    static func text(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        return value.description
    }

    static func arithmetic(_ op: BinaryOperator, _ left: JSONValue, _ right: JSONValue) throws(EvaluationError) -> JSONValue {
        if case .int(let a) = left, case .int(let b) = right {
            let result: (Int64, Bool)
            switch op {
            case .add: result = a.addingReportingOverflow(b)
            case .subtract: result = a.subtractingReportingOverflow(b)
            case .multiply: result = a.multipliedReportingOverflow(by: b)
            case .divide:
                guard b != 0 else { throw EvaluationError("division by zero") }
                if a % b == 0, !(a == .min && b == -1) { return .int(a / b) }
                return .double(Double(a) / Double(b))
            case .remainder:
                guard b != 0 else { throw EvaluationError("division by zero") }
                result = a.remainderReportingOverflow(dividingBy: b)
            default: throw EvaluationError("unsupported operator \(op.rawValue)")
            }
            guard !result.1 else { throw EvaluationError("integer overflow in \(a) \(op.rawValue) \(b)") }
            return .int(result.0)
        }
        guard let a = left.doubleValue, let b = right.doubleValue else {
            throw EvaluationError("cannot apply '\(op.rawValue)' to \(left.typeName) and \(right.typeName)")
        }
        switch op {
        case .add: return .double(a + b)
        case .subtract: return .double(a - b)
        case .multiply: return .double(a * b)
        case .divide:
            guard b != 0 else { throw EvaluationError("division by zero") }
            return .double(a / b)
        case .remainder:
            guard b != 0 else { throw EvaluationError("division by zero") }
            return .double(a.truncatingRemainder(dividingBy: b))
        default: throw EvaluationError("unsupported operator \(op.rawValue)")
        }
    }
}
