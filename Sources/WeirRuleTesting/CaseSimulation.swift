import WeirActions
import WeirCore
import WeirRules

/// One case on a virtual clock: the rules as the daemon runs them (`RuleSet.process`, a
/// `WindowOperator` per windowed rule, schedules by `Schedule.due`), but time moves only when the
/// case says, and straight to the next thing due: a given event, a schedule, a window that closes,
/// a retry. Nothing connects anywhere; functions run for real unless stubbed.
final class CaseSimulation {
    /// Happenings at most per case: a schedule of `every 1s` run to `until: 365d` stops here.
    static let maxHappenings = 100_000
    /// Messages a rule publishes come back to the rules (the daemon receives them from the broker
    /// when a rule subscribes to them); a chain of more than this many is reported as a loop.
    static let maxPublishDepth = 16

    let rules: RuleSet
    let testCase: RuleTestCase
    let maxPayloadBytes: Int
    let maxHops: Int
    let functions: FunctionCalls
    private(set) var happenings: [Happening] = []
    /// Why rules whose FROM matched an event did not take it (the WHERE terms that failed), for
    /// the report of an expected action that did not happen.
    private(set) var skips: [Skip] = []
    /// Set when the case stopped early (a loop, too many happenings).
    private(set) var stopped: String?
    private var now: Int64
    private var windows: [String: WindowOperator] = [:]
    /// The stateful functions' partitions, fresh for each case.
    private let partitions = PartitionStates()
    private var lastRun: [String: Int64] = [:]
    private var agenda = Agenda()

    init(rules: RuleSet, testCase: RuleTestCase, maxPayloadBytes: Int, maxHops: Int, functions: FunctionCalls) {
        self.rules = rules
        self.testCase = testCase
        self.maxPayloadBytes = maxPayloadBytes
        self.maxHops = maxHops
        self.functions = functions
        now = testCase.start
        for rule in rules.rules where rule.enabled {
            if let grouping = rule.query.grouping {
                windows[rule.name] = WindowOperator(query: grouping, timeMode: rule.timeMode, maxGroups: rule.maxGroups)
            }
        }
    }

    /// Runs the case to its `until`.
    func run() async {
        for given in testCase.given {
            var event = Event(topic: given.topic, payload: given.payload, qos: given.qos, receivedAt: testCase.start + given.at)
            event.properties = given.properties
            agenda.add(.event(event, publishDepth: 0), at: event.receivedAt)
        }
        let end = testCase.start + testCase.until
        while stopped == nil {
            let schedule = nextSchedule()
            var horizon = min(agenda.nextTime ?? .max, schedule?.time ?? .max, end)
            if let close = nextWindowClose(upTo: horizon) {
                horizon = close
                now = close
                await closeWindows()
                continue
            }
            guard horizon <= end else { break }
            if let schedule, schedule.time == horizon {
                now = max(now, horizon)
                lastRun[schedule.rule.name] = schedule.time
                await runActions(
                    schedule.rule.actions, rule: schedule.rule.name, row: schedule.rule.row(for: schedule.time), topic: "", hops: 0,
                    publishDepth: 0)
            } else if agenda.nextTime == horizon, let item = agenda.pop() {
                now = max(now, horizon)
                switch item {
                case .event(let event, let depth): await process(event, publishDepth: depth)
                case .retry(let invocation): await call(invocation)
                }
            } else {
                break
            }
        }
    }

    func record(_ kind: HappeningKind, _ fields: [(String, JSONValue)]) {
        guard happenings.count < Self.maxHappenings else {
            stopped = stopped ?? "stopped after \(Self.maxHappenings) happenings (a schedule too frequent for 'until', or a loop?)"
            return
        }
        happenings.append(Happening(kind: kind, at: now - testCase.start, fields: JSONObject(fields)))
    }

    /// The earliest schedule due, not later than anything else pending.
    private func nextSchedule() -> (time: Int64, rule: ScheduledRule)? {
        var best: (time: Int64, rule: ScheduledRule)?
        for rule in rules.schedules where rule.enabled {
            guard let due = rule.schedule.due(lastRun: lastRun[rule.name], firstSeen: testCase.start, now: now) else { continue }
            if best == nil || due < best!.time { best = (max(due, now), rule) }
        }
        return best
    }

    /// The earliest time in [now, limit] at which some window closes. The watermark only grows
    /// with the clock, so a binary search over copies of each operator finds it exactly.
    private func nextWindowClose(upTo limit: Int64) -> Int64? {
        var earliest: Int64?
        for name in windows.keys.sorted() {
            guard let windowOperator = windows[name], closesSomething(windowOperator, at: limit) else { continue }
            var low = now
            var high = limit
            while low < high {
                let middle = low + (high - low) / 2
                if closesSomething(windowOperator, at: middle) { high = middle } else { low = middle + 1 }
            }
            earliest = min(earliest ?? .max, low)
        }
        return earliest
    }

    private func closesSomething(_ windowOperator: WindowOperator, at time: Int64) -> Bool {
        var copy = windowOperator
        let outputs = try? copy.advance(now: time)
        return outputs.map { !$0.isEmpty } ?? true
    }

    private func closeWindows() async {
        for rule in rules.rules where windows[rule.name] != nil {
            guard var windowOperator = windows[rule.name] else { continue }
            let errorsBefore = windowOperator.rowErrors
            let outputs = (try? windowOperator.advance(now: now)) ?? []
            windows[rule.name] = windowOperator
            if windowOperator.rowErrors > errorsBefore, let error = windowOperator.lastRowError {
                record(.error, [("rule", .string(rule.name)), ("message", .string(error.message))])
            }
            for output in outputs {
                await runActions(rule.actions, rule: rule.name, row: output.row, topic: rule.query.topicFilters.first ?? "", hops: 0)
            }
        }
    }

    /// One event through the rules, as the router takes it.
    private func process(_ event: Event, publishDepth: Int) async {
        let outcome = rules.process(event, maxPayloadBytes: maxPayloadBytes, partitions: partitions, keepStatefulValues: true)
        for rejection in outcome.payloadErrors {
            record(
                .invalid, [("topic", .string(event.topic)), ("reason", .string(rejection.reason)), ("error", .string(rejection.message))])
        }
        for failure in outcome.failures {
            record(.error, [("rule", .string(failure.rule)), ("message", .string(failure.error))])
        }
        noteSkipped(event, outcome)
        for match in outcome.matches {
            await runActions(
                match.rule.actions, rule: match.rule.name, row: match.row, topic: event.topic, hops: event.hops, publishDepth: publishDepth)
        }
        for input in outcome.windowInputs {
            await admit(input, topic: event.topic, hops: event.hops, publishDepth: publishDepth)
        }
    }

    /// Notes, for each candidate rule that neither matched nor failed, the WHERE terms that did
    /// not hold (as `weir explain` shows them).
    private func noteSkipped(_ event: Event, _ outcome: EventOutcome) {
        guard skips.count < Skip.limit else { return }
        let taken = Set(outcome.matches.map(\.rule.name) + outcome.windowInputs.map(\.rule.name) + outcome.failures.map(\.rule))
        let skipped = rules.candidates(for: event.topic).filter { $0.enabled && !taken.contains($0.name) }
        guard !skipped.isEmpty else { return }
        var views = PayloadViews(event.payload)
        for rule in skipped {
            guard case .success(let context) = views.context(rule.payloadFormat, event) else { continue }
            let terms = rule.query.explainWhere(context, sql: rule.sql, stateful: outcome.statefulValues[rule.name] ?? []).conjuncts
                .compactMap { conjunct -> String? in
                    switch conjunct.outcome {
                    case .isTrue: return nil
                    case .isFalse: return "\(conjunct.text) is false"
                    case .isNull(let missing):
                        return "\(conjunct.text) is null" + (missing.isEmpty ? "" : " (\(missing.joined(separator: ", ")) missing or null)")
                    case .error(let message): return "\(conjunct.text) fails: \(message)"
                    }
                }
            skips.append(Skip(rule: rule.name, at: now - testCase.start, topic: event.topic, reasons: terms))
        }
    }

    private func admit(_ input: WindowInput, topic: String, hops: Int, publishDepth: Int) async {
        let rule = input.rule
        guard var windowOperator = windows[rule.name] else { return }
        // Processing time is the clock's, as in the daemon's window engine.
        let time = rule.timeMode == .processing ? now : input.time
        let result = Result { () throws(EvaluationError) in
            try windowOperator.add(keys: input.keys, values: input.values, time: time, now: now)
        }
        windows[rule.name] = windowOperator
        switch result {
        case .failure(let error):
            record(.error, [("rule", .string(rule.name)), ("message", .string(error.message))])
        case .success((.late, _)):
            var row = JSONObject()
            if case .object(let object) = input.payload { row = object } else { row["payload"] = input.payload }
            record(.late, [("rule", .string(rule.name)), ("row", .object(row))])
            await runActions(rule.lateActions, rule: rule.name, row: row, topic: topic, hops: hops, publishDepth: publishDepth)
        case .success((.overGroupLimit, _)):
            record(
                .error, [("rule", .string(rule.name)), ("message", .string("new group dropped: max_groups (\(rule.maxGroups)) reached"))])
        case .success((.accepted, let outputs)):
            for output in outputs {
                await runActions(rule.actions, rule: rule.name, row: output.row, topic: topic, hops: hops, publishDepth: publishDepth)
            }
        }
    }

    func runActions(_ actions: [ActionSpec], rule: String, row: JSONObject, topic: String, hops: Int, publishDepth: Int = 0) async {
        for action in actions {
            switch action {
            case .publish(let template, let qos, let retain):
                let rendered: String
                do {
                    rendered = try template.renderTopic(row)
                } catch {
                    record(
                        .deadLetter,
                        [("kind", "publish"), ("rule", .string(rule)), ("row", .object(row)), ("error", .string(error.description))])
                    continue
                }
                record(
                    .publish,
                    [
                        ("topic", .string(rendered)), ("payload", .object(row)), ("qos", .int(Int64(qos))), ("retain", .bool(retain)),
                        ("rule", .string(rule)),
                    ])
                guard !rules.candidates(for: rendered).isEmpty else { continue }
                guard publishDepth < Self.maxPublishDepth else {
                    record(
                        .error,
                        [("rule", .string(rule)), ("message", .string("publish loop: \(Self.maxPublishDepth) messages in a chain"))])
                    continue
                }
                // The broker would hand it back to Weir, which subscribes to it.
                let event = Event(topic: rendered, payload: JSONWriter.bytes(.object(row)), qos: qos, receivedAt: now)
                agenda.add(.event(event, publishDepth: publishDepth + 1), at: now)
            case .forward(let upstream, let priority):
                record(
                    .forward,
                    [("upstream", .string(upstream)), ("row", .object(row)), ("priority", .string("\(priority)")), ("rule", .string(rule))])
            case .log(let level):
                record(.log, [("level", .string(level.rawValue)), ("row", .object(row)), ("rule", .string(rule))])
            case .call:
                var invocation = Invocation(rule: rule, action: action, row: row, topic: topic, receivedAt: now)
                invocation.hops = hops
                await call(invocation)
            }
        }
    }

    /// A `call:` action: the stub's result or a real run; failures come back after the retry
    /// backoff (without jitter, so cases are repeatable) and end as dead letters.
    private func call(_ invocation: Invocation) async {
        guard case .call(let name) = invocation.action, let spec = rules.functions[name] else { return }
        let base: [(String, JSONValue)] = [
            ("function", .string(name)), ("row", .object(invocation.row)), ("rule", .string(invocation.rule)),
        ]
        switch await functions.call(spec, invocation, stub: testCase.stubs[name]) {
        case .success(let outputs):
            record(.call, base + [("output", outputs.count == 1 ? outputs[0] : .array(outputs))])
            if let template = spec.emit { emit(outputs, template: template, spec: spec, invocation: invocation) }
        case .failure(let failure):
            record(.call, base + [("error", .string(failure.message))])
            if invocation.attempt < spec.retry.attempts {
                var retry = invocation
                retry.attempt += 1
                let exponent = min(invocation.attempt - 1, 30)
                let delay = min(spec.retry.backoff * (1 << exponent), spec.retry.maxBackoff).milliseconds
                agenda.add(.retry(retry), at: now + delay)
            } else {
                record(.deadLetter, [("kind", "function")] + base + [("error", .string(failure.message))])
            }
        }
    }

    private func emit(_ outputs: [JSONValue], template: Template, spec: FunctionSpec, invocation: Invocation) {
        let hops = invocation.hops + 1
        for output in outputs {
            guard hops <= maxHops else {
                record(
                    .error,
                    [("rule", .string(invocation.rule)), ("message", .string("emitted event stopped: more than \(maxHops) function hops"))])
                continue
            }
            var fields = JSONObject()
            if case .object(let object) = output { fields = object }
            do {
                let topic = try template.renderTopic(fields)
                record(.emit, [("function", .string(spec.name)), ("topic", .string(topic)), ("payload", output)])
                agenda.add(
                    .event(Event(topic: topic, payload: JSONWriter.bytes(output), receivedAt: now, hops: hops), publishDepth: 0), at: now)
            } catch {
                let row: JSONObject = ["output": output, "input": .object(invocation.row)]
                record(
                    .deadLetter,
                    [
                        ("kind", "emit"), ("function", .string(spec.name)), ("rule", .string(invocation.rule)), ("row", .object(row)),
                        ("error", .string("emit: \(error)")),
                    ])
            }
        }
    }
}

/// A rule that did not take an event, and why.
public struct Skip: Sendable {
    /// Skips kept per case at most.
    static let limit = 1000
    public var rule: String
    public var at: Int64
    public var topic: String
    /// The WHERE terms that did not hold.
    public var reasons: [String]

    public var description: String {
        let why = reasons.isEmpty ? "does not hold" : reasons.joined(separator: "; ")
        return "at \(formatOffset(at)), rule \(rule) did not take \(topic): WHERE \(why)"
    }
}

/// What is pending at a later virtual time, in time order and, at the same time, in the order added.
struct Agenda {
    enum Item {
        case event(Event, publishDepth: Int)
        case retry(Invocation)
    }

    private var items: [(time: Int64, sequence: Int, item: Item)] = []
    private var sequence = 0

    var nextTime: Int64? { items.first?.time }

    mutating func add(_ item: Item, at time: Int64) {
        sequence += 1
        let index = items.firstIndex { $0.time > time } ?? items.endIndex
        items.insert((time, sequence, item), at: index)
    }

    mutating func pop() -> Item? {
        items.isEmpty ? nil : items.removeFirst().item
    }
}
