import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import WeirCore
import WeirFunctions
import WeirRules

/// The open windows of every windowed rule. Events add to them from the ingest loop; a ticker
/// closes them as time (or the watermark) passes. Each closed group's row runs the rule's
/// actions in the pool, like a per-event match.
public final class WindowEngine: Sendable {
    struct Entry {
        var rule: Rule
        var windows: WindowOperator
    }

    private let entries = Mutex<[String: Entry]>([:])
    let clock: @Sendable () -> Int64
    let logger: Logger
    let factory: any MetricsFactory

    init(rules: RuleSet, clock: @escaping @Sendable () -> Int64 = currentTimeMillis, logger: Logger, factory: any MetricsFactory) {
        self.clock = clock
        self.logger = logger
        self.factory = factory
        sync(with: rules)
    }

    /// After a reload: a rule whose grouping, window, aggregates and time mode are unchanged keeps
    /// its open windows; a changed or new one starts empty; a removed one is dropped.
    func sync(with rules: RuleSet) {
        entries.withLock { entries in
            var next: [String: Entry] = [:]
            for rule in rules.rules where rule.enabled {
                guard let grouping = rule.query.grouping else { continue }
                if var kept = entries[rule.name], kept.windows.query.signature == grouping.signature,
                    kept.windows.timeMode == rule.timeMode, kept.windows.maxGroups == rule.maxGroups
                {
                    kept.rule = rule
                    next[rule.name] = kept
                } else {
                    if let old = entries[rule.name], !old.windows.groups.isEmpty {
                        logger.warning(
                            "windowed rule changed: its open windows are discarded",
                            metadata: ["rule": "\(rule.name)", "groups": "\(old.windows.groups.count)"])
                    }
                    next[rule.name] = Entry(rule: rule, windows: WindowOperator(query: grouping, timeMode: rule.timeMode, maxGroups: rule.maxGroups))
                }
            }
            entries = next
        }
    }

    /// Adds one event's input; returns rows its window emitted at once (count, sliding, sessions).
    func add(_ input: WindowInput) -> [(Rule, WindowOutput)] {
        let now = clock()
        let result: Result<(WindowAdmission, [WindowOutput]), EvaluationError>? = entries.withLock { entries in
            guard var entry = entries[input.rule.name] else { return nil }
            // Processing time is this engine's clock (not the receive stamp), so windows and the
            // clock that closes them agree, and tests can drive both.
            let time = input.rule.timeMode == .processing ? now : input.time
            let outcome = Result { () throws(EvaluationError) in try entry.windows.add(keys: input.keys, values: input.values, time: time, now: now) }
            entries[input.rule.name] = entry
            return outcome
        }
        switch result {
        case nil:
            return []
        case .success(let (admission, outputs)):
            switch admission {
            case .accepted: break
            case .late: counter("weir_window_late_events_total", input.rule.name).increment()
            case .overGroupLimit: counter("weir_window_groups_dropped_total", input.rule.name).increment()
            }
            return outputs.map { (input.rule, $0) }
        case .failure(let error):
            counter("weir_rule_errors_total", input.rule.name).increment()
            logger.warning("windowed rule failed on event", metadata: ["rule": "\(input.rule.name)", "error": "\(error.message)"])
            return []
        }
    }

    /// Closes what the clock or watermark has passed.
    func tick() -> [(Rule, WindowOutput)] {
        let now = clock()
        return entries.withLock { entries in
            var outputs: [(Rule, WindowOutput)] = []
            for (name, var entry) in entries {
                do throws(EvaluationError) {
                    let closed = try entry.windows.advance(now: now)
                    outputs += closed.map { (entry.rule, $0) }
                } catch {
                    logger.warning("windowed rule failed closing a window", metadata: ["rule": "\(name)", "error": "\(error.message)"])
                }
                Gauge(label: "weir_window_open_groups", dimensions: [("rule", name)], factory: factory).record(entry.windows.groups.count)
                entries[name] = entry
            }
            return outputs
        }
    }

    private func counter(_ label: String, _ rule: String) -> Counter {
        Counter(label: label, dimensions: [("rule", rule)], factory: factory)
    }
}

/// Ticks the window engine and hands closed windows' rows to the pool.
struct WindowService: Service {
    let engine: WindowEngine
    let pool: FunctionPool
    let interval: Duration

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            await submit(engine.tick(), to: pool)
        }
    }
}

/// Runs the rule's actions for each window row, in the pool.
func submit(_ outputs: [(Rule, WindowOutput)], to pool: FunctionPool) async {
    for (rule, output) in outputs {
        for action in rule.actions {
            // An aggregate has no single input topic: its subject is the rule's first FROM filter.
            let topic = rule.query.topicFilters.first ?? ""
            await pool.submit(Invocation(rule: rule.name, action: action, row: output.row, topic: topic, receivedAt: output.windowEnd))
        }
    }
}
