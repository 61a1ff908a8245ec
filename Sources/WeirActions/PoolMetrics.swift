import Metrics
import WeirCore

/// The pool's metrics, created against an explicit factory so each daemon instance (and each test)
/// has its own registry.
final class PoolMetrics: Sendable {
    let factory: any MetricsFactory
    let queueDepth: Gauge
    let inFlight: Gauge
    let rejected: Counter
    let latency: Metrics.Timer
    let retriesRefused: Counter
    let unsettled: Counter
    private let perKind = MetricHandles<String, PerKind>()

    /// One action kind's metrics. `refusedTopic` counts failures whose values would have taken a
    /// topic out of its template (`weir_actions_failed_total{action,reason="topic"}`); every other
    /// failure counts in `failed`.
    struct PerKind: Sendable {
        let run: Counter
        let failed: Counter
        let refusedTopic: Counter
        let duration: Metrics.Timer
    }

    init(factory: any MetricsFactory) {
        self.factory = factory
        queueDepth = Gauge(label: "weir_pool_queue_depth", factory: factory)
        inFlight = Gauge(label: "weir_pool_in_flight", factory: factory)
        rejected = Counter(label: "weir_pool_rejected_total", factory: factory)
        latency = Metrics.Timer(label: "weir_event_to_action_seconds", factory: factory)
        retriesRefused = Counter(label: "weir_pool_retries_refused_total", factory: factory)
        unsettled = Counter(label: "weir_actions_unsettled_total", factory: factory)
    }

    /// The counters and timer of one action kind, created on first use.
    func forKind(_ kind: String) -> PerKind {
        perKind.handles(for: kind) { [factory] kind in
            let dims = [("action", kind)]
            return PerKind(
                run: Counter(label: "weir_actions_run_total", dimensions: dims, factory: factory),
                failed: Counter(label: "weir_actions_failed_total", dimensions: dims, factory: factory),
                refusedTopic: Counter(label: "weir_actions_failed_total", dimensions: dims + [("reason", "topic")], factory: factory),
                duration: Metrics.Timer(label: "weir_action_duration_seconds", dimensions: dims, factory: factory)
            )
        }
    }
}
