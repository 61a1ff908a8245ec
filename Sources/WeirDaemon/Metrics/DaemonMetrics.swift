import Metrics
import Prometheus
import Synchronization
import WeirEngine

/// The daemon's own Prometheus registry and the event-path metrics.
///
/// Each daemon owns its registry (no process-global bootstrap needed), so tests can build several.
public final class DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    /// The metrics the engine records (router, emitted events, rules and reloads), on this registry.
    public let engine: EngineMetrics
    let eventsIn: Metrics.Counter
    let ingestDropped: Metrics.Counter
    let ingestBuffered: Metrics.Gauge
    let ingestBufferedBytes: Metrics.Gauge
    let mqttConnected: Metrics.Gauge
    let mqttReconnects: Metrics.Counter
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
        // Event-to-action latency needs to show a 1 ms p99: 0.05 ms steps up to 2 ms, then coarser.
        factory.durationHistogramBuckets["weir_event_to_action_seconds"] =
            (1...40).map { Duration.microseconds(50 * $0) } + [
                .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
            ]
        self.factory = factory
        eventsIn = Metrics.Counter(label: "weir_events_in_total", factory: factory)
        engine = EngineMetrics(factory: factory)
        ingestDropped = Metrics.Counter(label: "weir_ingest_dropped_total", factory: factory)
        ingestBuffered = Metrics.Gauge(label: "weir_ingest_buffered", factory: factory)
        ingestBufferedBytes = Metrics.Gauge(label: "weir_ingest_buffered_bytes", factory: factory)
        mqttConnected = Metrics.Gauge(label: "weir_mqtt_connected", factory: factory)
        mqttReconnects = Metrics.Counter(label: "weir_mqtt_reconnects_total", factory: factory)
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

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String { registry.emitToString() }
}
