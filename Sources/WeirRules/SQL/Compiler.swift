import WeirCore

/// Resolves a parsed tree once: function names to `BuiltinFunction` with arity checked, literal
/// LIKE and regex patterns precompiled. Nothing name-based is left for the per-event path.
enum Compiler {
    static func compile(_ node: SQLNode) throws(SQLError) -> SQLNode {
        switch node {
        case .literal, .path, .function, .likeCompiled, .regexMatch, .regexReplace, .aggregateRef, .groupKeyRef, .windowStart, .windowEnd,
            .lookup, .statefulRef:
            return node
        case .over(_, _, let offset):
            throw SQLError("OVER (PARTITION BY …) and stateful functions are for rules without GROUP BY", at: offset)
        case .call(let name, _, let offset) where StatefulKind.named(name) != nil:
            throw SQLError("'\(name.lowercased())' is a stateful function, for rules without GROUP BY", at: offset)
        case .allRows:
            throw SQLError("'*' is only allowed in count(*) of a grouped rule", at: 0)
        case .call(let name, let rawArgs, let offset) where name.lowercased() == "lookup":
            return try compileLookup(rawArgs, offset: offset)
        case .call(let name, let rawArgs, let offset):
            guard let function = BuiltinFunction.named(name) else {
                if AggregateKind.named(name) != nil {
                    throw SQLError("aggregate '\(name.lowercased())' needs GROUP BY (for example GROUP BY TUMBLING(10s))", at: offset)
                }
                if ["window_start", "window_end"].contains(name.lowercased()) {
                    throw SQLError("\(name.lowercased())() needs a window in GROUP BY", at: offset)
                }
                throw SQLError("unknown function '\(name)'", at: offset)
            }
            try function.checkArity(rawArgs.count, name: name, offset: offset)
            var args: [SQLNode] = []
            for arg in rawArgs { args.append(try compile(arg)) }
            try function.checkLiteralArguments(args, offset: offset)
            if function == .regexMatch || function == .regexReplace, case .literal(.string(let pattern)) = args[1] {
                let regex: CompiledRegex
                do {
                    regex = try CompiledRegex(pattern)
                } catch {
                    throw SQLError("invalid regular expression '\(pattern)': \(error)", at: offset)
                }
                return function == .regexMatch
                    ? .regexMatch(args[0], regex, offset: offset) : .regexReplace(args[0], regex, args[2], offset: offset)
            }
            if function == .topic, let first = args.first {
                guard case .literal(.int(let level)) = first, level >= 1 else {
                    throw SQLError("topic(n) takes a level number from 1", at: offset)
                }
            }
            return .function(function, args, offset: offset)
        case .cast(let value, let type):
            return .cast(try compile(value), type)
        case .negate(let value, let offset):
            return .negate(try compile(value), offset: offset)
        case .not(let value, let offset):
            return .not(try compile(value), offset: offset)
        case .binary(let op, let left, let right, let offset):
            return .binary(op, try compile(left), try compile(right), offset: offset)
        case .inList(let value, let list, let negated):
            var compiled: [SQLNode] = []
            for item in list { compiled.append(try compile(item)) }
            return .inList(try compile(value), compiled, negated: negated)
        case .between(let value, let low, let high, let negated, let offset):
            return .between(try compile(value), try compile(low), try compile(high), negated: negated, offset: offset)
        case .like(let value, let pattern, let negated, let offset):
            if case .literal(.string(let text)) = pattern {
                return .likeCompiled(try compile(value), LikePattern(text), negated: negated, offset: offset)
            }
            return .like(try compile(value), try compile(pattern), negated: negated, offset: offset)
        case .isNull(let value, let negated):
            return .isNull(try compile(value), negated: negated)
        case .searchedCase(let branches, let otherwise):
            var compiled: [(SQLNode, SQLNode)] = []
            for (condition, result) in branches { compiled.append((try compile(condition), try compile(result))) }
            return .searchedCase(compiled, otherwise: try otherwise.map { (n) throws(SQLError) in try compile(n) })
        case .simpleCase(let subject, let branches, let otherwise):
            var compiled: [(SQLNode, SQLNode)] = []
            for (value, result) in branches { compiled.append((try compile(value), try compile(result))) }
            return .simpleCase(try compile(subject), compiled, otherwise: try otherwise.map { (n) throws(SQLError) in try compile(n) })
        }
    }
}

extension Compiler {
    /// `lookup('table', key [, 'column'])`: the table and the column are literals, resolved now
    /// against the tables being loaded with the rules (`LookupTables.current`).
    static func compileLookup(_ args: [SQLNode], offset: Int) throws(SQLError) -> SQLNode {
        guard (2...3).contains(args.count) else {
            throw SQLError("function 'lookup' takes 2 or 3 arguments (table, key [, column]), got \(args.count)", at: offset)
        }
        guard case .literal(.string(let name)) = args[0] else { throw SQLError("lookup's table must be a string literal", at: offset) }
        let tables = LookupTables.current.byName
        // The rule set fails to load anyway: the table's own error says why.
        if LookupTables.current.broken.contains(name) { return .literal(.null) }
        guard let table = tables[name] else {
            let known = tables.isEmpty ? "none declared" : tables.keys.sorted().joined(separator: ", ")
            throw SQLError("unknown table '\(name)' (tables: \(known))", at: offset)
        }
        var column: Int?
        if args.count == 3 {
            guard case .literal(.string(let columnName)) = args[2] else {
                throw SQLError("lookup's column must be a string literal", at: offset)
            }
            guard let index = table.columns.firstIndex(of: columnName) else {
                throw SQLError(
                    "table '\(name)' has no column '\(columnName)' (columns: \(table.columns.joined(separator: ", ")))", at: offset)
            }
            column = index
        }
        return .lookup(table, try compile(args[1]), column: column, offset: offset)
    }
}

/// The input of one evaluation: the event's parsed payload and its MQTT context.
public struct EvaluationContext: Sendable {
    public var payload: JSONValue
    public var topic: String
    public var qos: Int
    /// Milliseconds since the Unix epoch (when the event was received).
    public var timestamp: Int64
    /// The message's MQTT 5 properties, for `user_property()` and `content_type()`; nil under 3.1.1.
    public var properties: MessageProperties?
    /// When emitting a grouped row: aggregate results, GROUP BY key values, window bounds.
    var aggregates: [JSONValue] = []
    var groupKeys: [JSONValue] = []
    var window: (start: Int64, end: Int64)?
    /// The values of the rule's stateful calls for this event.
    var stateful: [JSONValue] = []
    /// What `payload()` returns when it is not `payload`: the text of a `format: text` rule's
    /// payload, the bytes of a `format: binary` one.
    public var payloadValue: JSONValue?

    public init(payload: JSONValue, topic: String, qos: Int = 0, timestamp: Int64 = 0, properties: MessageProperties? = nil) {
        self.payload = payload
        self.topic = topic
        self.qos = qos
        self.timestamp = timestamp
        self.properties = properties
    }
}

/// A rule's SQL, parsed and compiled once, evaluated per event.
public struct CompiledQuery: Sendable {
    /// The FROM topic filters, in order.
    public let topicFilters: [String]
    /// The UTF-8 offset of each filter's text in the SQL, for diagnostics.
    public let filterOffsets: [Int]
    /// Whether the SELECT list contains `*`.
    public let selectsStar: Bool
    /// The named output columns (without `*`), in SELECT order.
    public let columnNames: [String]
    let items: [SelectItem]
    let whereClause: SQLNode?
    /// Set for `GROUP BY` rules: their rows come from closed groups, not from single events.
    public let grouping: GroupedQuery?
    /// The rule's stateful calls (`changed`, `lag`, …), stepped for every event FROM matches.
    public let stateful: [StatefulSpec]

    public init(sql: String) throws(SQLError) {
        var parser = try Parser(sql)
        let statement = try parser.parseStatement()
        grouping = statement.groupBy.isEmpty && statement.window == nil ? nil : try GroupedQuery(statement)
        var items: [SelectItem] = []
        var stateful: [StatefulSpec] = []
        // Stateful calls are taken out first (WHERE's before SELECT's, as they are evaluated), so an
        // equal call in both is one call.
        let grouped = grouping != nil
        var whereNode = statement.whereClause
        if !grouped, let node = whereNode { whereNode = try StatefulCompiler.extract(node, into: &stateful) }
        for item in statement.items where !grouped {
            switch item {
            case .star: items.append(.star)
            case .column(let node, let name):
                items.append(.column(try Compiler.compile(try StatefulCompiler.extract(node, into: &stateful)), name: name))
            }
        }
        self.items = items
        self.stateful = stateful
        whereClause = try whereNode.map { (n) throws(SQLError) in try Compiler.compile(n) }
        topicFilters = statement.filters.map(\.0)
        filterOffsets = statement.filters.map(\.1)
        selectsStar = items.contains { if case .star = $0 { true } else { false } }
        columnNames =
            grouping?.columns.map(\.name) ?? items.compactMap { if case .column(_, let name) = $0 { name } else { nil } }
    }

    /// Whether WHERE holds for this event (true without WHERE).
    public func matches(_ context: EvaluationContext) throws(EvaluationError) -> Bool {
        guard let whereClause else { return true }
        guard case .bool(true) = try Evaluator.evaluate(whereClause, context) else { return false }
        return true
    }

    /// The output row, or `nil` when WHERE is false or null.
    public func evaluate(_ context: EvaluationContext) throws(EvaluationError) -> JSONObject? {
        guard try matches(context) else { return nil }
        return try project(context)
    }

    /// The output row for an event whose WHERE held.
    func project(_ context: EvaluationContext) throws(EvaluationError) -> JSONObject {
        var row = JSONObject()
        for item in items {
            switch item {
            case .star:
                if case .object(let object) = context.payload {
                    for (key, value) in object.pairs { row[key] = value }
                } else {
                    row["payload"] = context.payload
                }
            case .column(let node, let name):
                row[name] = try Evaluator.evaluate(node, context)
            }
        }
        return row
    }
}
