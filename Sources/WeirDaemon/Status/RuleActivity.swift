import Synchronization
import WeirCore

/// Per-rule matches and errors over about the last minute, for `weir status`: a baseline of the
/// counters taken every minute, compared with the counters when asked. One baseline only (about
/// 50 bytes per active rule), so 10,000 rules cost about half a MiB at most.
final class RuleActivity: Sendable {
    struct Baseline: Sendable {
        var at: Int64
        var matched: [String: Double]
        var errors: [String: Double]
    }

    /// The rates since `baseline`: per rule, matches per second and errors counted.
    struct Rates: Sendable {
        var seconds: Double
        var matchedPerSecond: [String: Double]
        var errors: [String: Double]
    }

    private let baseline: Mutex<Baseline?> = Mutex(nil)
    static let series: Set<String> = ["weir_rule_matched_total", "weir_rule_errors_total"]

    init() {}

    /// Takes a new baseline from `samples` (parsed with at least `series`): every minute, from the
    /// status history's tick.
    func sample(_ samples: MetricSamples, now: Int64 = currentTimeMillis()) {
        let fresh = Baseline(
            at: now, matched: samples.by("weir_rule_matched_total", label: "rule"),
            errors: samples.by("weir_rule_errors_total", label: "rule"))
        baseline.withLock { $0 = fresh }
    }

    /// Matches per second and errors per rule since the baseline; nil before the first one.
    func rates(_ samples: MetricSamples, now: Int64 = currentTimeMillis()) -> Rates? {
        guard let base = baseline.withLock({ $0 }) else { return nil }
        let seconds = max(1, Double(now - base.at) / 1000)
        let matched = samples.by("weir_rule_matched_total", label: "rule")
        var perSecond: [String: Double] = [:]
        for (rule, count) in matched { perSecond[rule] = max(0, count - (base.matched[rule] ?? 0)) / seconds }
        var errors: [String: Double] = [:]
        for (rule, count) in samples.by("weir_rule_errors_total", label: "rule") {
            let delta = count - (base.errors[rule] ?? 0)
            if delta > 0 { errors[rule] = delta }
        }
        return Rates(seconds: seconds, matchedPerSecond: perSecond, errors: errors)
    }
}
