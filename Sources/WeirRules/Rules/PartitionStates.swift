import Synchronization
import WeirCore

/// The memory of the stateful functions (`changed`, `lag`, …) of every rule: per rule, per
/// partition, one `StatefulSlot` per call. Bounded per rule by `max_partitions`: past it the
/// least recently seen partitions are forgotten (and counted), so a forgotten device's next
/// reading counts as its first.
///
/// Changes are remembered as dirty partitions for a checkpointer to save (`takeChanges`); a
/// saved state is put back with `restore`. One lock: the rule loop steps one event at a time,
/// the checkpointer takes changes every few hundred milliseconds.
public final class PartitionStates: Sendable {
    struct Partition {
        var slots: [StatefulSlot]
        var lastSeen: UInt64
    }

    struct RuleState {
        var signature: String
        var partitions: [String: Partition] = [:]
        /// Partitions changed (or forgotten: absent from `partitions`) since the last checkpoint.
        var dirty: Set<String> = []
        var evicted: Int = 0
    }

    struct Contents {
        var rules: [String: RuleState] = [:]
        var tick: UInt64 = 0
        /// Steps (one event, one rule) since the last `takeChanges`.
        var steps = 0
    }

    private let contents = Mutex(Contents())

    public init() {}

    /// The saved-state signature of a rule: its stateful calls as written. State saved under
    /// another signature is not resumed.
    public static func signature(_ rule: Rule) -> String? {
        let specs = rule.query.stateful
        guard !specs.isEmpty else { return nil }
        return specs.map(\.text).joined(separator: "; ") + ";time=\(rule.timeMode)"
    }

    /// Keeps the state of rules whose calls are unchanged, drops the others'. Returns the names
    /// of rules whose state was dropped or that are new (their saved state must be reset).
    @discardableResult
    public func sync(with rules: RuleSet) -> [(rule: String, signature: String?)] {
        contents.withLock { contents in
            var next: [String: RuleState] = [:]
            var resets: [(String, String?)] = []
            for rule in rules.rules where rule.enabled {
                guard let signature = Self.signature(rule) else { continue }
                if let kept = contents.rules[rule.name], kept.signature == signature {
                    next[rule.name] = kept
                } else {
                    next[rule.name] = RuleState(signature: signature)
                    resets.append((rule.name, signature))
                }
            }
            for name in contents.rules.keys where next[name] == nil { resets.append((name, nil)) }
            contents.rules = next
            return resets
        }
    }

    /// Puts back one saved partition of `rule` (at start, before any event).
    public func restore(rule: String, signature: String, partition: String, state: JSONValue) -> Bool {
        guard case .array(let items) = state else { return false }
        var slots: [StatefulSlot] = []
        for item in items {
            guard let slot = StatefulSlot(json: item) else { return false }
            slots.append(slot)
        }
        return contents.withLock { contents in
            guard contents.rules[rule]?.signature == signature else { return false }
            contents.tick += 1
            contents.rules[rule]?.partitions[partition] = Partition(slots: slots, lastSeen: contents.tick)
            return true
        }
    }

    /// Runs `body` on the slots of one partition (created empty when new), marking it changed.
    /// The rule's state is changed in place: a copy of it would copy its partitions per event.
    func withSlots<R: Sendable>(
        rule: Rule, partition: String, count: Int, _ body: (inout [StatefulSlot]) throws(EvaluationError) -> R
    ) throws(EvaluationError) -> R {
        try contents.withLock { (contents) throws(EvaluationError) -> R in
            contents.tick += 1
            contents.steps += 1
            let tick = contents.tick
            if contents.rules[rule.name] == nil { contents.rules[rule.name] = RuleState(signature: Self.signature(rule) ?? "") }
            return try Self.step(&contents.rules[rule.name]!, rule: rule, partition: partition, count: count, tick: tick, body)
        }
    }

    private static func step<R: Sendable>(
        _ state: inout RuleState, rule: Rule, partition: String, count: Int, tick: UInt64,
        _ body: (inout [StatefulSlot]) throws(EvaluationError) -> R
    ) throws(EvaluationError) -> R {
        defer {
            state.dirty.insert(partition)
            if state.partitions.count > rule.maxPartitions { evict(&state, keep: rule.maxPartitions) }
        }
        let fresh = Partition(slots: Array(repeating: StatefulSlot(), count: count), lastSeen: tick)
        return try withPartition(&state.partitions[partition, default: fresh], count: count, tick: tick, body)
    }

    private static func withPartition<R: Sendable>(
        _ entry: inout Partition, count: Int, tick: UInt64, _ body: (inout [StatefulSlot]) throws(EvaluationError) -> R
    ) throws(EvaluationError) -> R {
        if entry.slots.count != count { entry.slots = Array(repeating: StatefulSlot(), count: count) }
        entry.lastSeen = tick
        return try body(&entry.slots)
    }

    /// Forgets the least recently seen partitions: down to 90% of the bound, so eviction's scan
    /// runs once per many new partitions, not once per event.
    static func evict(_ state: inout RuleState, keep: Int) {
        let target = max(1, keep * 9 / 10)
        let victims = state.partitions.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(state.partitions.count - target)
        for (key, _) in victims {
            state.partitions[key] = nil
            state.dirty.insert(key)
        }
        state.evicted += victims.count
    }

    /// The changes since the last call: each dirty partition's slots as JSON, or nil when it was
    /// forgotten. The checkpointer saves them.
    public func takeChanges() -> [(rule: String, partition: String, state: JSONValue?)] {
        takeChangesAndSteps().changes
    }

    /// `takeChanges`, with the number of steps (per event and stateful rule) they hold.
    public func takeChangesAndSteps() -> (changes: [(rule: String, partition: String, state: JSONValue?)], steps: Int) {
        contents.withLock { contents in
            defer { contents.steps = 0 }
            var changes: [(String, String, JSONValue?)] = []
            for name in contents.rules.keys {
                guard let dirty = contents.rules[name]?.dirty, !dirty.isEmpty else { continue }
                for key in dirty {
                    let state = contents.rules[name]?.partitions[key].map { JSONValue.array($0.slots.map(\.json)) }
                    changes.append((name, key, state))
                }
                contents.rules[name]?.dirty = []
            }
            return (changes, contents.steps)
        }
    }

    /// Partitions held and forgotten so far, per rule (metrics and status).
    public func counts() -> [(rule: String, partitions: Int, evicted: Int)] {
        contents.withLock { contents in
            contents.rules.map { ($0.key, $0.value.partitions.count, $0.value.evicted) }.sorted { $0.0 < $1.0 }
        }
    }
}

extension RuleSet {
    /// Steps every stateful call of `rule` for this event, in its partition: the values the
    /// rule's SQL reads for them. Without `states` (a one-off dry run) every partition is new.
    func statefulValues(_ rule: Rule, _ context: EvaluationContext, states: PartitionStates?) throws(EvaluationError) -> [JSONValue] {
        let specs = rule.query.stateful
        let now = try eventTime(rule.timeMode, context)
        var values: [JSONValue] = []
        values.reserveCapacity(specs.count)
        // Calls are grouped by partition key: most rules have one partition for all their calls.
        var keys: [String] = []
        var arguments: [[JSONValue]] = []
        for spec in specs {
            var parts: [JSONValue] = []
            for node in spec.partition { parts.append(try Evaluator.evaluate(node, context)) }
            keys.append(parts.isEmpty ? "" : JSONWriter.string(.array(parts)))
            var evaluated: [JSONValue] = []
            for node in spec.arguments { evaluated.append(try Evaluator.evaluate(node, context)) }
            arguments.append(evaluated)
        }
        guard let states else {
            for (index, spec) in specs.enumerated() {
                var slot = StatefulSlot()
                values.append(try spec.step(arguments[index], &slot, now: now))
            }
            return values
        }
        // One state entry per partition key holds a slot for every call of the rule.
        for (index, spec) in specs.enumerated() {
            let value = try states.withSlots(rule: rule, partition: keys[index], count: specs.count) {
                (slots) throws(EvaluationError) -> JSONValue in try spec.step(arguments[index], &slots[index], now: now)
            }
            values.append(value)
        }
        return values
    }
}
