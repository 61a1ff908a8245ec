import Logging
import Metrics
import Synchronization
import WeirActions
import WeirCore
import WeirRules
import WeirStore

/// Runs scheduled rules (`schedule:` instead of `sql:`) when they are due.
///
/// Each run's time is recorded in the store once its actions have run, so schedules survive
/// restarts: a run that fell due while Weir was down runs once at start (not once per missed
/// slot), and a crash during a run repeats it at the next start (at least once, as everywhere in
/// Weir). An `every` schedule that never ran runs at its first start; a cron schedule first runs
/// at its next matching minute.
///
/// `ScheduleService` (in the daemon) calls `tick()` every interval and `flush()` when it stops.
public final class Scheduler: Sendable {
    let rules: LiveRules
    let pool: ActionPool
    let store: ScheduleStore
    let clock: @Sendable () -> Int64
    let logger: Logger
    let runs: @Sendable (String) -> Counter
    let nextRunGauge: @Sendable (String) -> Gauge
    let lastRunGauge: @Sendable (String) -> Gauge
    private let io = BlockingThreads.serial(name: "weir-schedules")
    /// Per rule: the time the next run is due, and whether a run is in progress.
    private let poolClosed = Mutex(false)
    private let state = Mutex<[String: (due: Int64?, running: Bool, schedule: String)]>([:])

    public init(
        rules: LiveRules, pool: ActionPool, store: ScheduleStore, clock: @escaping @Sendable () -> Int64, logger: Logger,
        metricsFactory: any MetricsFactory
    ) {
        self.rules = rules
        self.pool = pool
        self.store = store
        self.clock = clock
        self.logger = logger
        runs = { Counter(label: "weir_schedule_runs_total", dimensions: [("rule", $0)], factory: metricsFactory) }
        nextRunGauge = { Gauge(label: "weir_schedule_next_run_timestamp_seconds", dimensions: [("rule", $0)], factory: metricsFactory) }
        lastRunGauge = { Gauge(label: "weir_schedule_last_run_timestamp_seconds", dimensions: [("rule", $0)], factory: metricsFactory) }
    }

    /// Waits for the runs' records already queued to be written.
    public func flush() async {
        await io.run {}
    }

    /// Starts every scheduled rule that is due now.
    public func tick() async {
        // The pool refused work: it is draining for a stop, and runs wait for the next start.
        guard !poolClosed.withLock({ $0 }) else { return }
        let now = clock()
        for rule in rules.current.schedules where rule.enabled {
            guard let due = await dueTime(of: rule, now: now), due <= now else { continue }
            let started = state.withLock { state -> Bool in
                guard state[rule.name]?.running != true else { return false }
                state[rule.name]?.running = true
                return true
            }
            guard started else { continue }
            await start(rule, due: due, now: now)
        }
    }

    /// When `rule` is next due, from its recorded last run (read once, then kept in memory).
    private func dueTime(of rule: ScheduledRule, now: Int64) async -> Int64? {
        let text = rule.schedule.description
        if let known = state.withLock({ $0[rule.name] }), known.schedule == text { return known.due }
        let store = self.store
        let name = rule.name
        var due: Int64?
        do {
            let last = try await io.run({ try store.lastRun(of: name) })
            if let last { lastRunGauge(name).record(Double(last) / 1000) }
            var seen: Int64?
            if last == nil, case .cron = rule.schedule {
                // A cron schedule that never ran counts from when it was first seen, so a slot
                // that falls due while Weir is down is a missed run at the next start.
                seen = try await io.run { try store.firstSeen(of: name) }
                if seen == nil { try await io.run { try store.recordFirstSeen(of: name, at: now) } }
            }
            due = rule.schedule.due(lastRun: last, firstSeen: seen, now: now)
        } catch {
            logger.error("schedule state unreadable; the rule does not run", metadata: ["rule": "\(rule.name)", "error": "\(error)"])
            return nil
        }
        state.withLock { $0[rule.name] = (due, $0[rule.name]?.running ?? false, text) }
        if let due { nextRunGauge(rule.name).record(Double(due) / 1000) }
        return due
    }

    /// Submits the rule's actions; when they have all run, records the run and the next due time.
    private func start(_ rule: ScheduledRule, due: Int64, now: Int64) async {
        if due < now - 60_000 {
            logger.notice(
                "running a scheduled rule missed while Weir was down", metadata: ["rule": "\(rule.name)", "due": "\(rfc3339(millis: due))"])
        } else {
            logger.info("running scheduled rule", metadata: ["rule": "\(rule.name)"])
        }
        let row = rule.row(for: due)
        let store = self.store
        let io = self.io
        let logger = self.logger
        let next = rule.schedule.next(after: now)
        let remaining = Countdown(rule.actions.count) { [self] in
            self.state.withLock { $0[rule.name] = (next, false, rule.schedule.description) }
            self.lastRunGauge(rule.name).record(Double(now) / 1000)
            if let next { self.nextRunGauge(rule.name).record(Double(next) / 1000) }
            io.submit {
                do {
                    try store.recordRun(of: rule.name, at: now)
                } catch {
                    logger.error("schedule run could not be recorded", metadata: ["rule": "\(rule.name)", "error": "\(error)"])
                }
            }
        }
        for action in rule.actions {
            var invocation = Invocation(rule: rule.name, action: action, row: row, topic: "$weir/schedule/\(rule.name)", receivedAt: now)
            invocation.onCompletion = { _ in remaining.tick() }
            guard await pool.submit(invocation) else {
                // Shutting down: the run did not happen, so it is not recorded (it runs at the next start).
                state.withLock { $0[rule.name]?.running = false }
                poolClosed.withLock { $0 = true }
                return
            }
        }
        runs(rule.name).increment()
    }
}
