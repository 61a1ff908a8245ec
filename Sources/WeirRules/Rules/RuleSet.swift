import WeirCore

/// An immutable, indexed set of rules. Reloads build a new set and swap it in whole.
public struct RuleSet: Sendable {
    public let rules: [Rule]
    private let index: TopicTrie<Int>
    /// The union of all rules' FROM filters but internal ones: what the MQTT client subscribes to.
    public let topicFilters: Set<String>

    /// Topics under this prefix are internal: only events emitted by functions reach rules on
    /// them, never the broker (Weir does not subscribe to them), so a device cannot inject into
    /// a workflow's later steps.
    public static let internalTopicPrefix = "$weir/"
    /// Declared functions by name.
    public let functions: [String: FunctionSpec]
    /// Rules triggered by time; they are not in the topic index.
    public let schedules: [ScheduledRule]
    /// The payload paths the rules' WHERE clauses read, each resolved at most once per event.
    let fieldTable: FieldTable
    /// Each rule's WHERE compiled against `fieldTable` (nil: no WHERE), by position.
    let predicates: [Predicate?]
    /// Rules that share FROM and test one path against numeric intervals, answered together.
    let ranges: RangeIndex
    /// Whether every rule reads JSON payloads: then `process` takes the path it had before formats.
    let onlyJSON: Bool

    /// The lookup tables the rules were compiled with (`tables:`), for the reload fingerprint and status.
    public let tables: [LookupTable]

    public init(rules: [Rule], functions: [String: FunctionSpec] = [:], schedules: [ScheduledRule] = [], tables: [LookupTable] = []) {
        self.tables = tables
        self.rules = rules
        self.schedules = schedules
        self.functions = functions
        var index = TopicTrie<Int>()
        var filters: Set<String> = []
        for (position, rule) in rules.enumerated() where rule.enabled {
            for text in rule.query.topicFilters {
                // Filters were validated when the rule was loaded.
                if let filter = try? TopicFilter(text) {
                    index.insert(filter, position)
                    if !text.hasPrefix(Self.internalTopicPrefix) { filters.insert(text) }
                }
            }
        }
        self.index = index
        self.topicFilters = filters
        var table = FieldTable()
        predicates = rules.map { rule in rule.query.whereClause.map { Predicate.compile($0, &table) } }
        fieldTable = table
        ranges = RangeIndex(rules: rules, predicates: predicates)
        onlyJSON = rules.allSatisfy { $0.payloadFormat == .json }
    }

    public static let empty = RuleSet(rules: [])

    /// Rules whose FROM matches `topic`, each once, in definition order.
    public func candidates(for topic: String) -> [Rule] {
        candidatePositions(for: topic).map { rules[$0] }
    }

    /// The positions of `candidates(for:)`: ascending, each once.
    func candidatePositions(for topic: String) -> [Int] {
        var positions = index.matches(topic)
        // One filter per rule (the usual case) yields them ascending already.
        if positions.count > 1, zip(positions, positions.dropFirst()).contains(where: { $0 >= $1 }) {
            positions.sort()
            positions = positions.enumerated().filter { $0.offset == 0 || positions[$0.offset - 1] != $0.element }.map(\.element)
        }
        return positions
    }

    public func rule(named name: String) -> Rule? {
        rules.first { $0.name == name }
    }
}

/// One rule's output row for one event.
public struct RuleMatch: Sendable {
    public let rule: Rule
    public let row: JSONObject
}

/// What happened to one event across all rules.
public struct EventOutcome: Sendable {
    /// Rules whose FROM matched the topic.
    public var candidates = 0
    public var matches: [RuleMatch] = []
    /// Rules that failed on this event (type errors and the like), with the reason.
    public var failures: [(rule: String, error: String)] = []
    /// Why the payload did not fit: once per format that a candidate rule needed (`too_large`
    /// for all of them). The rules of that format did not run; rules of other formats did.
    public var payloadErrors: [PayloadRejection] = []
    /// The first payload error's message; set when the payload was not acceptable.
    public var payloadError: String? { payloadErrors.first?.message }
    /// A short label for `payloadError` (`too_large`, `not_json`, `empty`, `not_text`), for metrics.
    public var payloadErrorReason: String? { payloadErrors.first?.reason }
    /// The values of stateful calls (`changed`, `lag`, …) of the rules that have them, in each
    /// rule's call order (`CompiledQuery.stateful`): for `weir explain` and rule tests.
    /// Kept only when `process` is asked to (`keepStatefulValues`): the router does not need them.
    public var statefulValues: [String: [JSONValue]] = [:]
    var keepsStatefulValues = false
    /// Inputs for windowed rules whose WHERE held: they go to the rule's open windows.
    public var windowInputs: [WindowInput] = []
}

/// One event's contribution to a windowed rule.
public struct WindowInput: Sendable {
    public let rule: Rule
    public let keys: [JSONValue]
    public let values: [JSONValue?]
    /// Event time (ms): the receive time, or the payload's time field with `event_time`.
    public let time: Int64
    /// The event's payload, for the rule's `late` actions.
    public let payload: JSONValue
}

extension RuleSet {
    /// Runs every candidate rule on `event`. The payload is parsed once, and only if a rule's FROM
    /// matched: traffic no rule cares about costs a trie walk and nothing more.
    ///
    /// - Parameter partitions: the memory of the stateful functions (`changed`, `lag`, …); nil for
    ///   a one-off dry run, where every partition is new.
    /// - Parameter keepStatefulValues: fills `EventOutcome.statefulValues` (dry runs and rule tests).
    public func process(
        _ event: Event, maxPayloadBytes: Int = 256 * 1024, partitions: PartitionStates? = nil, keepStatefulValues: Bool = false
    ) -> EventOutcome {
        var outcome = EventOutcome()
        outcome.keepsStatefulValues = keepStatefulValues
        let positions = candidatePositions(for: event.topic)
        outcome.candidates = positions.count
        guard !positions.isEmpty else { return outcome }
        let size = max(event.payload.count, event.droppedPayloadBytes)
        guard size <= maxPayloadBytes, event.droppedPayloadBytes == 0 else {
            outcome.payloadErrors.append(
                PayloadRejection(reason: "too_large", message: "payload of \(size) bytes exceeds the limit of \(maxPayloadBytes)"))
            return outcome
        }
        var lookups = RangeLookups(ranges)
        guard !onlyJSON else {
            // Every rule reads JSON (the usual set): one parse, one context, as before formats.
            let context: EvaluationContext
            switch PayloadViews.jsonContext(event) {
            case .success(let made):
                context = made
            case .failure(let rejection):
                outcome.payloadErrors.append(rejection)
                return outcome
            }
            var fields = FieldValues(table: fieldTable, payload: context.payload)
            for position in positions { run(position, context, &fields, &lookups, &outcome, partitions) }
            return outcome
        }
        // Each format's view of the payload, and its field slots, made the first time a rule of
        // that format asks: the JSON parse happens once, and only if a JSON rule matched.
        var views = PayloadViews(event.payload)
        var contexts = PerFormat<Result<EvaluationContext, PayloadRejection>>()
        var slots = PerFormat<FieldValues>()
        for position in positions {
            let format = rules[position].payloadFormat
            if contexts[format] == nil {
                let made = views.context(format, event)
                contexts[format] = made
                switch made {
                case .success(let context): slots[format] = FieldValues(table: fieldTable, payload: context.payload)
                case .failure(let rejection): outcome.payloadErrors.append(rejection)
                }
            }
            guard case .success(let context) = contexts[format] else { continue }
            run(position, context, &slots[format]!, &lookups, &outcome, partitions)
        }
        return outcome
    }

    /// One candidate rule on one event: WHERE first, from the range index (JSON rules) or the
    /// event's shared field slots: most rules stop there, before the rule itself is even read.
    @inline(__always)
    private func run(
        _ position: Int, _ context: EvaluationContext, _ fields: inout FieldValues, _ lookups: inout RangeLookups,
        _ outcome: inout EventOutcome, _ partitions: PartitionStates?
    ) {
        do {
            // Stateful functions see every event FROM matched, before WHERE filters it.
            if !rules[position].query.stateful.isEmpty {
                try processStateful(position, context, &fields, &outcome, partitions)
                return
            }
            if rules[position].payloadFormat == .json, let decided = lookups.decide(position, &fields) {
                guard decided else { return }
            } else if let predicate = predicates[position] {
                guard try predicate.holds(&fields, context) else { return }
            }
            let rule = rules[position]
            if let grouping = rule.query.grouping {
                let (keys, values) = try grouping.input(context)
                let time = try eventTime(rule.timeMode, context)
                outcome.windowInputs.append(WindowInput(rule: rule, keys: keys, values: values, time: time, payload: context.payload))
            } else {
                outcome.matches.append(RuleMatch(rule: rule, row: try rule.query.project(context)))
            }
        } catch {
            outcome.failures.append((rules[position].name, error.message))
        }
    }
}

extension RuleSet {
    /// A rule with stateful calls: their values first, then WHERE and the row reading them.
    private func processStateful(
        _ position: Int, _ shared: EvaluationContext, _ fields: inout FieldValues, _ outcome: inout EventOutcome,
        _ partitions: PartitionStates?
    ) throws(EvaluationError) {
        let rule = rules[position]
        var context = shared
        context.stateful = try statefulValues(rule, context, states: partitions)
        if outcome.keepsStatefulValues { outcome.statefulValues[rule.name] = context.stateful }
        if let predicate = predicates[position] {
            guard try predicate.holds(&fields, context) else { return }
        }
        outcome.matches.append(RuleMatch(rule: rule, row: try rule.query.project(context)))
    }
}

/// The time an event counts at in its rule's windows.
func eventTime(_ mode: TimeMode, _ context: EvaluationContext) throws(EvaluationError) -> Int64 {
    guard case .event(let field, _, _) = mode else { return context.timestamp }
    let millis: Int64
    switch context.payload[field] {
    case .int(let value)?: millis = value
    case .double(let value)? where value.isFinite && abs(value) < 1e15: millis = Int64(value)
    case .string(let text)?:
        guard let parsed = parseRFC3339(text) else { throw EvaluationError("event time field '\(field)' is not RFC 3339: '\(text)'") }
        millis = parsed
    default:
        throw EvaluationError("event time field '\(field)' is missing or not a time")
    }
    // Epoch ms from 1970 to the year 9999: anything else is a broken device clock, and would also
    // overflow window arithmetic.
    guard (0...253_402_300_799_999).contains(millis) else {
        throw EvaluationError("event time field '\(field)' is out of range (epoch milliseconds, 1970 to 9999): \(millis)")
    }
    return millis
}
