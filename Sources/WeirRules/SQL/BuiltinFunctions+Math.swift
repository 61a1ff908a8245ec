import Glibc
import WeirCore

extension Evaluator {
    /// Trigonometry and friends: doubles in, doubles out; a domain error is an error, not NaN.
    static func callMath(_ function: BuiltinFunction, _ args: [JSONValue]) throws(EvaluationError) -> JSONValue {
        let name = function.rawValue
        let x = try number(args[0], name)
        switch function {
        case .sin: return .double(Glibc.sin(x))
        case .cos: return .double(Glibc.cos(x))
        case .tan: return .double(Glibc.tan(x))
        case .asin, .acos:
            guard (-1...1).contains(x) else { throw EvaluationError("\(name) of a number outside [-1, 1]") }
            return .double(function == .asin ? Glibc.asin(x) : Glibc.acos(x))
        case .atan: return .double(Glibc.atan(x))
        case .atan2: return .double(Glibc.atan2(x, try number(args[1], name)))
        case .sinh: return .double(Glibc.sinh(x))
        case .cosh: return .double(Glibc.cosh(x))
        case .tanh: return .double(Glibc.tanh(x))
        case .cot:
            let t = Glibc.tan(x)
            guard t != 0 else { throw EvaluationError("cot of a multiple of pi") }
            return .double(1 / t)
        case .degrees: return .double(x * 180 / Double.pi)
        case .radians: return .double(x * Double.pi / 180)
        default:
            // trunc(x [, digits]): toward zero, like round's digits.
            if case .int = args[0], args.count == 1 { return args[0] }
            let digits = args.count == 2 ? try integer(args[1], name) : 0
            guard (-15...15).contains(digits) else { throw EvaluationError("trunc digits must be between -15 and 15") }
            let factor = Glibc.pow(10.0, Double(digits))
            let r = (x * factor).rounded(.towardZero) / factor
            return digits <= 0 ? try intResult(r, name) : .double(r)
        }
    }

    /// Bit operations on 64-bit integers (two's complement); shifts take 0...63.
    static func callBits(_ function: BuiltinFunction, _ args: [JSONValue]) throws(EvaluationError) -> JSONValue {
        let name = function.rawValue
        let a = try bitOperand(args[0], name)
        if function == .bitnot { return .int(~a) }
        let b = try bitOperand(args[1], name)
        switch function {
        case .bitand: return .int(a & b)
        case .bitor: return .int(a | b)
        case .bitxor: return .int(a ^ b)
        default:
            guard (0...63).contains(b) else { throw EvaluationError("\(name) needs a shift between 0 and 63, got \(b)") }
            // Left shifts drop the bits that leave; right shifts keep the sign (arithmetic).
            return .int(function == .bitshiftleft ? a << b : a >> b)
        }
    }

    static func bitOperand(_ value: JSONValue, _ function: String) throws(EvaluationError) -> Int64 {
        guard case .int(let i) = value else { throw EvaluationError("\(function) needs integers, got \(value.typeName)") }
        return i
    }
}
