import Metrics
import Synchronization

/// The event path's metrics that the engine records: unmatched, invalid and emitted events,
/// per-rule matches and errors, the loaded rules and reloads. The daemon creates one from its
/// registry's factory (`DaemonMetrics.engine`).
public final class EngineMetrics: Sendable {
    let eventsUnmatched: Metrics.Counter
    /// Events printed by functions with `emit`, routed back into the rules.
    let eventsEmitted: Metrics.Counter
    let rulesLoaded: Metrics.Gauge
    private let factory: any MetricsFactory
    private let perRule: Mutex<[String: (matched: Metrics.Counter, errors: Metrics.Counter)]>
    private let invalid: CounterFamily
    private let reloads: CounterFamily

    public init(factory: any MetricsFactory) {
        self.factory = factory
        eventsUnmatched = Metrics.Counter(label: "weir_events_unmatched_total", factory: factory)
        eventsEmitted = Metrics.Counter(label: "weir_events_emitted_total", factory: factory)
        rulesLoaded = Metrics.Gauge(label: "weir_rules_loaded", factory: factory)
        perRule = Mutex([:])
        invalid = CounterFamily(label: "weir_events_invalid_total", dimension: "reason", factory: factory)
        reloads = CounterFamily(label: "weir_rule_reloads_total", dimension: "result", factory: factory)
    }

    private func rule(_ name: String) -> (matched: Metrics.Counter, errors: Metrics.Counter) {
        perRule.withLock { cache in
            if let found = cache[name] { return found }
            let made = (
                Metrics.Counter(label: "weir_rule_matched_total", dimensions: [("rule", name)], factory: factory),
                Metrics.Counter(label: "weir_rule_errors_total", dimensions: [("rule", name)], factory: factory)
            )
            cache[name] = made
            return made
        }
    }

    func matched(rule name: String) { rule(name).matched.increment() }
    func failed(rule name: String) { rule(name).errors.increment() }

    func invalidEvent(reason: String) { invalid[reason].increment() }

    func reload(result: String) { reloads[result].increment() }
}

/// Counters of one metric that differ by one label, created on first use.
final class CounterFamily: Sendable {
    private let label: String
    private let dimension: String
    private let factory: any MetricsFactory
    private let counters = Mutex<[String: Metrics.Counter]>([:])

    init(label: String, dimension: String, factory: any MetricsFactory) {
        self.label = label
        self.dimension = dimension
        self.factory = factory
    }

    subscript(value: String) -> Metrics.Counter {
        counters.withLock { cache in
            if let found = cache[value] { return found }
            let counter = Metrics.Counter(label: label, dimensions: [(dimension, value)], factory: factory)
            cache[value] = counter
            return counter
        }
    }
}
