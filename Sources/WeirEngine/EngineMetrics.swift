import Metrics
import WeirCore

/// The event path's metrics that the engine records: unmatched, invalid, expired and emitted events,
/// per-rule matches and errors, the loaded rules and reloads. The daemon creates one from its
/// registry's factory (`DaemonMetrics.engine`).
public final class EngineMetrics: Sendable {
    let eventsUnmatched: Metrics.Counter
    /// Events printed by functions with `emit`, routed back into the rules.
    let eventsEmitted: Metrics.Counter
    /// MQTT 5 events whose message expiry ran out while they waited in Weir: not processed.
    let eventsExpired: Metrics.Counter
    let rulesLoaded: Metrics.Gauge
    private let factory: any MetricsFactory
    private let perRule = MetricHandles<String, (matched: Metrics.Counter, errors: Metrics.Counter)>()
    /// By `reason`.
    private let invalid = MetricHandles<String, Metrics.Counter>()
    /// By `result`.
    private let reloads = MetricHandles<String, Metrics.Counter>()

    public init(factory: any MetricsFactory) {
        self.factory = factory
        eventsUnmatched = Metrics.Counter(label: "weir_events_unmatched_total", factory: factory)
        eventsEmitted = Metrics.Counter(label: "weir_events_emitted_total", factory: factory)
        eventsExpired = Metrics.Counter(label: "weir_events_expired_total", factory: factory)
        rulesLoaded = Metrics.Gauge(label: "weir_rules_loaded", factory: factory)
    }

    private func rule(_ name: String) -> (matched: Metrics.Counter, errors: Metrics.Counter) {
        perRule.handles(for: name) { [factory] name in
            (
                Metrics.Counter(label: "weir_rule_matched_total", dimensions: [("rule", name)], factory: factory),
                Metrics.Counter(label: "weir_rule_errors_total", dimensions: [("rule", name)], factory: factory)
            )
        }
    }

    func matched(rule name: String) { rule(name).matched.increment() }
    func failed(rule name: String) { rule(name).errors.increment() }

    func invalidEvent(reason: String) {
        invalid.handles(for: reason) { [factory] in
            Metrics.Counter(label: "weir_events_invalid_total", dimensions: [("reason", $0)], factory: factory)
        }.increment()
    }

    func reload(result: String) {
        reloads.handles(for: result) { [factory] in
            Metrics.Counter(label: "weir_rule_reloads_total", dimensions: [("result", $0)], factory: factory)
        }.increment()
    }
}
