import WeirCore

/// The grouped part of a rule's SQL (`GROUP BY keys[, window]`, aggregates, `HAVING`), compiled:
/// what to extract from each event (`input`) and how to turn a closed group into a row (`row`).
public struct GroupedQuery: Sendable {
    public let window: WindowSpec?
    let keys: [SQLNode]
    let aggregates: [AggregateSpec]
    /// Output columns, with aggregates and keys replaced by references.
    let columns: [(node: SQLNode, name: String)]
    let having: SQLNode?
    /// Identifies the state layout: grouping, window and aggregates. A reload that keeps it keeps
    /// the open windows; any change resets them.
    public let signature: String

    init(_ statement: SelectStatement) throws(SQLError) {
        window = statement.window?.spec
        let rawKeys = statement.groupBy.map(\.0)
        let keyTexts = rawKeys.map(canonical)
        var aggregates: [AggregateSpec] = []
        var columns: [(SQLNode, String)] = []
        for (index, item) in statement.items.enumerated() {
            let offset = index < statement.itemOffsets.count ? statement.itemOffsets[index] : 0
            guard case .column(let node, let name) = item else {
                throw SQLError("SELECT * cannot be used with GROUP BY: name the keys and aggregates", at: offset)
            }
            var rewriter = Rewriter(keyTexts: keyTexts, hasWindow: window != nil, column: name, offset: offset)
            let rewritten = try rewriter.rewrite(node, aggregates: &aggregates)
            columns.append((try Compiler.compile(rewritten), name))
        }
        if let having = statement.having {
            var rewriter = Rewriter(keyTexts: keyTexts, hasWindow: window != nil, column: "HAVING", offset: 0)
            self.having = try Compiler.compile(try rewriter.rewrite(having, aggregates: &aggregates))
        } else {
            having = nil
        }
        var compiledKeys: [SQLNode] = []
        for (key, offset) in statement.groupBy {
            if containsAggregate(key) { throw SQLError("GROUP BY cannot use an aggregate", at: offset) }
            compiledKeys.append(try Compiler.compile(key))
        }
        keys = compiledKeys
        self.aggregates = aggregates
        self.columns = columns
        signature =
            "keys=\(keyTexts.joined(separator: ","));window=\(window?.description ?? "none");aggs="
            + aggregates.map { "\($0.kind.rawValue)(\($0.argument.map(canonical) ?? "*"),\($0.parameter))" }.joined(separator: ",")
    }

    /// The group key values and aggregate inputs of one event that passed WHERE.
    func input(_ context: EvaluationContext) throws(EvaluationError) -> (keys: [JSONValue], values: [JSONValue?]) {
        var keyValues: [JSONValue] = []
        keyValues.reserveCapacity(keys.count)
        for key in keys { keyValues.append(try Evaluator.evaluate(key, context)) }
        var values: [JSONValue?] = []
        values.reserveCapacity(aggregates.count)
        for aggregate in aggregates {
            values.append(try aggregate.argument.map { (n) throws(EvaluationError) in try Evaluator.evaluate(n, context) })
        }
        return (keyValues, values)
    }

    /// The output row of a closed group, or nil when HAVING rejects it.
    func row(keys: [JSONValue], states: [AggregateState], windowStart: Int64, windowEnd: Int64) throws(EvaluationError) -> JSONObject? {
        var context = EvaluationContext(payload: .null, topic: "", timestamp: windowEnd)
        context.groupKeys = keys
        context.aggregates = zip(states, aggregates).map { $0.result($1) }
        context.window = (windowStart, windowEnd)
        if let having {
            guard case .bool(true) = try Evaluator.evaluate(having, context) else { return nil }
        }
        var row = JSONObject()
        for column in columns { row[column.name] = try Evaluator.evaluate(column.node, context) }
        return row
    }

    func initialStates() -> [AggregateState] { aggregates.map { AggregateState.initial($0.kind) } }

    func add(_ values: [JSONValue?], to states: inout [AggregateState]) throws(EvaluationError) {
        for index in states.indices { try states[index].add(values[index], spec: aggregates[index]) }
    }
}

/// Replaces aggregate calls with `.aggregateRef`, GROUP BY keys with `.groupKeyRef` and
/// window_start()/window_end() with their nodes, rejecting anything that depends on one event.
private struct Rewriter {
    let keyTexts: [String]
    let hasWindow: Bool
    let column: String
    let offset: Int
    var inAggregate = false

    mutating func rewrite(_ node: SQLNode, aggregates: inout [AggregateSpec]) throws(SQLError) -> SQLNode {
        if !inAggregate, let index = keyTexts.firstIndex(of: canonical(node)) { return .groupKeyRef(index) }
        switch node {
        case .call(let name, let args, let callOffset):
            let lower = name.lowercased()
            if lower == "window_start" || lower == "window_end" {
                guard hasWindow else { throw SQLError("\(lower)() needs a window in GROUP BY", at: callOffset) }
                guard args.isEmpty else { throw SQLError("\(lower)() takes no arguments", at: callOffset) }
                return lower == "window_start" ? .windowStart : .windowEnd
            }
            if let kind = AggregateKind.named(name) {
                guard !inAggregate else { throw SQLError("aggregates cannot be nested", at: callOffset) }
                return .aggregateRef(try aggregate(kind, args, callOffset, &aggregates))
            }
            if !inAggregate, ["topic", "timestamp", "qos"].contains(lower) {
                throw SQLError("column '\(column)': \(lower)() is neither aggregated nor a GROUP BY key", at: callOffset)
            }
            var rewritten: [SQLNode] = []
            for arg in args { rewritten.append(try rewrite(arg, aggregates: &aggregates)) }
            return .call(name: name, args: rewritten, offset: callOffset)
        case .path(let first, _):
            if inAggregate { return node }
            throw SQLError("column '\(column)' uses '\(first)', which is neither aggregated nor a GROUP BY key", at: offset)
        case .allRows:
            throw SQLError("'*' is only allowed in count(*)", at: offset)
        default:
            return try node.mapChildren { (child) throws(SQLError) in try rewrite(child, aggregates: &aggregates) }
        }
    }

    private mutating func aggregate(_ kind: AggregateKind, _ args: [SQLNode], _ callOffset: Int, _ aggregates: inout [AggregateSpec])
        throws(SQLError) -> Int
    {
        var parameter = 0.0
        switch kind {
        case .percentile:
            guard args.count == 2, let p = Self.constant(args[1]), (0...100).contains(p) else {
                throw SQLError("percentile(x, p) needs a constant p between 0 and 100", at: callOffset)
            }
            parameter = p
        case .collect:
            guard args.count == 1 || args.count == 2 else { throw SQLError("collect(x[, cap]) takes 1 or 2 arguments", at: callOffset) }
            parameter = 100
            if args.count == 2 {
                guard let cap = Self.constant(args[1]), cap >= 1, cap <= 10_000 else {
                    throw SQLError("collect's cap must be a constant from 1 to 10000", at: callOffset)
                }
                parameter = cap.rounded()
            }
        case .count where args.isEmpty:
            throw SQLError("count needs an argument: count(*) or count(x)", at: callOffset)
        default:
            guard args.count == 1 else { throw SQLError("\(kind.rawValue)(x) takes 1 argument, got \(args.count)", at: callOffset) }
        }
        var argument: SQLNode?
        if case .allRows = args[0] {
            guard kind == .count else { throw SQLError("only count accepts '*'", at: callOffset) }
        } else {
            inAggregate = true
            defer { inAggregate = false }
            argument = try Compiler.compile(try rewrite(args[0], aggregates: &aggregates))
        }
        aggregates.append(AggregateSpec(kind: kind, argument: argument, parameter: parameter, offset: callOffset))
        return aggregates.count - 1
    }

    private static func constant(_ node: SQLNode) -> Double? {
        switch node {
        case .literal(.int(let i)): return Double(i)
        case .literal(.double(let d)): return d
        default: return nil
        }
    }
}

/// Whether `node` calls an aggregate anywhere.
func containsAggregate(_ node: SQLNode) -> Bool {
    if case .call(let name, let args, _) = node {
        return AggregateKind.named(name) != nil || args.contains(where: containsAggregate)
    }
    var found = false
    _ = node.mapChildren { child in
        if containsAggregate(child) { found = true }
        return child
    }
    return found
}

/// A text form of an uncompiled expression, without source offsets: two spellings of the same
/// expression (in SELECT and in GROUP BY) get the same text.
func canonical(_ node: SQLNode) -> String {
    switch node {
    case .literal(let value): return JSONWriter.string(value)
    case .path(let first, let segments):
        return first
            + segments.map { segment in
                switch segment {
                case .key(let key): return ".\(key)"
                case .index(let index): return "[\(index)]"
                }
            }.joined()
    case .call(let name, let args, _): return "\(name.lowercased())(\(args.map(canonical).joined(separator: ",")))"
    case .cast(let value, let type): return "cast(\(canonical(value)) as \(type.rawValue))"
    case .negate(let value, _): return "-(\(canonical(value)))"
    case .not(let value, _): return "not(\(canonical(value)))"
    case .binary(let op, let left, let right, _): return "(\(canonical(left)) \(op.rawValue) \(canonical(right)))"
    case .allRows: return "*"
    default: return "#\(String(describing: node).hashValue)"
    }
}
