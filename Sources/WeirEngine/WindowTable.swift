import Metrics
import Synchronization
import WeirCore
import WeirRules

/// The open windows of every windowed rule and the checkpoint bookkeeping about them: the one
/// state that `WindowEngine` and its parts (`WindowAdmitter`, `WindowCheckpointer`,
/// `WindowSpilling`) share.
///
/// It stays under one lock on purpose. Admission, ticking and a checkpoint's snapshot must see one
/// consistent view of a rule's groups together with the checkpoint bookkeeping: an event's change
/// to its group and its settlement's registration land in the same snapshot (so the waiter ends
/// only once that change is durable); a reload's reset drops a rule's pending and retried changes
/// in the same step that replaces its groups (so a checkpoint in flight cannot resurrect them);
/// spilling sees which groups are still unsaved. With separate locks each of these would rest on a
/// lock order; per-rule locks are a possible later change. The lock covers in-memory work only:
/// store writes happen outside it (the store is read under it only at start, reload and on a
/// spilled group's return).
final class WindowTable: Sendable {
    struct Entry {
        var rule: Rule
        var windows: WindowOperator
        var lostReported = 0
        var metrics: WindowRuleMetrics

        /// Whether the rule has group changes (or discarded groups) a checkpoint has not taken.
        var hasUnsavedChanges: Bool { !windows.touched.isEmpty || !windows.discarded.isEmpty }
    }

    struct Contents {
        var entries: [String: Entry] = [:]
        var checkpoint = WindowCheckpointer.State()
        /// Per-rule log throttle: a bad field in every event must not flood the journal.
        var logThrottle = LogThrottle(interval: .seconds(5))
    }

    let shared = Mutex(Contents())

    func shouldLog(_ rule: String) -> Bool {
        shared.withLock { $0.logThrottle.allow(rule) }
    }
}

/// One windowed rule's metric handles, each made on first use (as before, nothing is reported for
/// a metric that never changed) and dropped with the rule's entry.
struct WindowRuleMetrics {
    enum Count: Int, CaseIterable {
        case events, late, dropped, errors, unreadable

        var label: String {
            switch self {
            case .events: "weir_window_events_total"
            case .late: "weir_window_late_events_total"
            case .dropped: "weir_window_groups_dropped_total"
            case .errors: "weir_rule_errors_total"
            case .unreadable: "weir_window_groups_unreadable_total"
            }
        }
    }

    let rule: String
    let factory: any MetricsFactory
    private var counters = [Counter?](repeating: nil, count: Count.allCases.count)
    private var openGauge: Gauge?
    private var spilledGauge: Gauge?

    init(rule: String, factory: any MetricsFactory) {
        self.rule = rule
        self.factory = factory
    }

    mutating func counter(_ count: Count) -> Counter {
        if let made = counters[count.rawValue] { return made }
        let made = Counter(label: count.label, dimensions: [("rule", rule)], factory: factory)
        counters[count.rawValue] = made
        return made
    }

    /// `weir_window_open_groups`: groups in memory plus spilled ones.
    mutating func openGroups() -> Gauge {
        if let openGauge { return openGauge }
        let made = Gauge(label: "weir_window_open_groups", dimensions: [("rule", rule)], factory: factory)
        openGauge = made
        return made
    }

    /// `weir_window_spilled_groups`.
    mutating func spilledGroups() -> Gauge {
        if let spilledGauge { return spilledGauge }
        let made = Gauge(label: "weir_window_spilled_groups", dimensions: [("rule", rule)], factory: factory)
        spilledGauge = made
        return made
    }
}

extension Dictionary {
    /// Runs `body` on the value for `key` where it is stored, without copying it out and back (a
    /// copy would share the value's buffers, so its first change would copy all of a rule's
    /// groups); nil when there is no such key.
    mutating func modify<T>(_ key: Key, _ body: (inout Value) throws -> T) rethrows -> T? {
        guard let index = index(forKey: key) else { return nil }
        return try body(&values[index])
    }
}
