import WeirCore

@testable import WeirRules

/// Rule SQL end to end: lexer, parser (expressions, GROUP BY, windows, HAVING), compiler (function
/// arity, LIKE and PCRE2 patterns) through `CompiledQuery(sql:)`, the error position an operator
/// sees, then evaluation of what compiled against a few events (WHERE, the SELECT row, a grouped
/// rule's keys and aggregate inputs), as the router does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let sql = fuzzText(data, size)
    let query: CompiledQuery
    do {
        query = try CompiledQuery(sql: sql)
    } catch {
        let (line, column) = error.lineAndColumn(in: sql)
        require(line >= 1 && column >= 1, "error position \(line):\(column)")
        return 0
    }
    for context in events {
        _ = try? query.evaluate(context)
        _ = try? query.grouping?.input(context)
    }
    return 0
}

/// Payloads of the shapes the docs use, and odd ones: not an object, nested, unicode.
private let events: [EvaluationContext] = [
    EvaluationContext(
        payload: ["device": "d1", "temp": 91, "humidity": 40.5, "battery": 87, "site": "site-1", "a": ["b": [["c": 1]]]],
        topic: "sensors/site-1/telemetry", qos: 1, timestamp: 1_718_013_600_000),
    EvaluationContext(payload: ["device": "d2", "temp": -3.25e300, "tags": ["x", "y"], "name": "ünï\u{0}"], topic: "a/b/c/d"),
    EvaluationContext(payload: .array([1, "two", nil]), topic: "$SYS/x", qos: 2, timestamp: -1),
    EvaluationContext(payload: ["n": .int(.max), "m": .int(.min), "s": "9223372036854775808", "z": 0], topic: ""),
]
