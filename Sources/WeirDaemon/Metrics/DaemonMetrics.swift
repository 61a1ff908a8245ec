import Metrics
import Prometheus
import Synchronization

/// The daemon's own Prometheus registry and the event-path metrics.
///
/// Each daemon owns its registry (no process-global bootstrap needed), so tests can build several.
public final class DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    let eventsIn: Metrics.Counter
    let eventsUnmatched: Metrics.Counter
    /// Events printed by functions with `emit`, routed back into the rules.
    let eventsEmitted: Metrics.Counter
    let ingestDropped: Metrics.Counter
    let ingestBuffered: Metrics.Gauge
    let mqttConnected: Metrics.Gauge
    let mqttReconnects: Metrics.Counter
    let rulesLoaded: Metrics.Gauge
    private let perRule: Mutex<[String: (matched: Metrics.Counter, errors: Metrics.Counter)]>
    private let invalid: CounterFamily
    private let reloads: CounterFamily
    private let connects = Mutex(0)

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Sub-millisecond buckets: on a gateway an action usually runs well under the 5 ms that
        // the library's default first bucket would lump everything into.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
        eventsIn = Metrics.Counter(label: "weir_events_in_total", factory: factory)
        eventsUnmatched = Metrics.Counter(label: "weir_events_unmatched_total", factory: factory)
        eventsEmitted = Metrics.Counter(label: "weir_events_emitted_total", factory: factory)
        ingestDropped = Metrics.Counter(label: "weir_ingest_dropped_total", factory: factory)
        ingestBuffered = Metrics.Gauge(label: "weir_ingest_buffered", factory: factory)
        mqttConnected = Metrics.Gauge(label: "weir_mqtt_connected", factory: factory)
        mqttReconnects = Metrics.Counter(label: "weir_mqtt_reconnects_total", factory: factory)
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

    /// Every connection after the first is a reconnect.
    func mqttDidConnect() {
        mqttConnected.record(1)
        let count = connects.withLock { c in
            c += 1
            return c
        }
        if count > 1 { mqttReconnects.increment() }
    }

    func matched(rule name: String) { rule(name).matched.increment() }
    func failed(rule name: String) { rule(name).errors.increment() }

    func invalidEvent(reason: String) { invalid[reason].increment() }

    func reload(result: String) { reloads[result].increment() }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String { registry.emitToString() }
}

/// Counters of one metric that differ by one label, created on first use.
final class CounterFamily: Sendable {
    private let label: String
    private let dimension: String
    private let factory: PrometheusMetricsFactory
    private let counters = Mutex<[String: Metrics.Counter]>([:])

    init(label: String, dimension: String, factory: PrometheusMetricsFactory) {
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
