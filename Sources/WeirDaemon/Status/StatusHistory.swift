import Synchronization
import WeirCore
import WeirStore

/// The status page's short history, at 10 s resolution over 10 minutes: matches per interval of
/// the busiest rules (at most 50, chosen again every minute from `RuleActivity`), and each
/// outbox's depth. Bounded whatever the rule count: 50 rules x 60 points x 4 bytes, plus names,
/// stays far under 256 KiB.
final class StatusHistory: Sendable {
    static let points = 60
    static let interval: Duration = .seconds(10)
    static let maxRules = 50

    private struct Series {
        var previous: Double
        var values: [UInt32] = []
    }

    private struct State {
        var rules: [String: Series] = [:]
        var outboxes: [String: [UInt32]] = [:]
        var ticks = 0
        var lastAt: Int64 = 0
    }

    private let metrics: DaemonMetrics
    private let activity: RuleActivity
    private let outboxes: [String: Outbox]
    private let state = Mutex(State())

    init(metrics: DaemonMetrics, activity: RuleActivity, outboxes: [String: Outbox]) {
        self.metrics = metrics
        self.activity = activity
        self.outboxes = outboxes
    }

    /// One interval: appends a point to each series; every sixth, takes the activity baseline and
    /// chooses the tracked rules again.
    func tick(now: Int64 = currentTimeMillis()) {
        let samples = MetricSamples(metrics.exposition(), names: RuleActivity.series)
        let matched = samples.by("weir_rule_matched_total", label: "rule")
        let rechoose = state.withLock { $0.ticks % 6 == 0 }
        var chosen: [String]?
        if rechoose {
            let rates = activity.rates(samples, now: now)
            activity.sample(samples, now: now)
            if let rates {
                chosen = rates.matchedPerSecond.filter { $0.value > 0 }.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
                    .prefix(Self.maxRules).map(\.key)
            } else {
                chosen = matched.filter { $0.value > 0 }.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(Self.maxRules).map(\.key)
            }
        }
        let depths = outboxes.mapValues { UInt32(clamping: $0.depth) }
        state.withLock { s in
            s.ticks += 1
            s.lastAt = now
            for (rule, var series) in s.rules {
                let count = matched[rule] ?? series.previous
                Self.append(&series.values, UInt32(clamping: Int64(max(0, count - series.previous))))
                series.previous = count
                s.rules[rule] = series
            }
            if let chosen {
                let keep = Set(chosen)
                s.rules = s.rules.filter { keep.contains($0.key) }
                for rule in chosen where s.rules[rule] == nil { s.rules[rule] = Series(previous: matched[rule] ?? 0) }
            }
            // Between choices, rules that start matching join while there is room: the page
            // shows them from their next interval on, not a minute later.
            for (rule, count) in matched where count > 0 && s.rules.count < Self.maxRules && s.rules[rule] == nil {
                s.rules[rule] = Series(previous: count)
            }
            for (name, depth) in depths { Self.append(&s.outboxes[name, default: []], depth) }
        }
    }

    private static func append(_ values: inout [UInt32], _ value: UInt32) {
        if values.count == points { values.removeFirst() }
        values.append(value)
    }

    /// `GET /status/history`: the series, oldest point first, busiest rule first.
    func json(recent: RecentLog?) -> JSONValue {
        let s = state.withLock { $0 }
        let rules = s.rules.sorted { ($0.value.values.reduce(0, +), $1.key) > ($1.value.values.reduce(0, +), $0.key) }
        return [
            "interval_seconds": .int(10), "at": .string(rfc3339(millis: s.lastAt)),
            "rules": .array(rules.map { ["rule": .string($0.key), "matched": .array($0.value.values.map { .int(Int64($0)) })] }),
            "outboxes": .array(
                s.outboxes.keys.sorted().map { ["upstream": .string($0), "depth": .array((s.outboxes[$0] ?? []).map { .int(Int64($0)) })] }
            ),
            "errors": .array(
                (recent?.newestFirst ?? []).map {
                    ["at": .string(rfc3339(millis: $0.at)), "level": .string($0.level), "message": .string($0.message)]
                }),
        ]
    }
}
