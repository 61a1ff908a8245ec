import Dispatch
import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRules
import WeirStore

/// The stateful functions' partitions (`changed`, `lag`, …) kept in step with the rules and saved
/// to the store: resumed at start when a rule's calls are unchanged, kept across a reload on the
/// same condition, and checkpointed by a thread of its own every `interval` (200 ms), so a kill -9
/// loses at most the changes of the last interval: those events' partitions then remember an
/// older reading, and report-by-exception errs towards sending, never towards losing a change
/// for good.
public final class PartitionEngine: Sendable {
    public let states = PartitionStates()
    let store: WindowStore?
    let logger: Logger
    let factory: any MetricsFactory
    let interval: Duration
    private let wake = DispatchSemaphore(value: 0)
    private let control = Mutex(Control())
    private let thread = Mutex<JoinableOSThread?>(nil)

    struct Control {
        var stopped = false
        /// Saved state to drop (and the signature to record), written before any later change.
        var resets: [(rule: String, signature: String?)] = []
        /// Changes of a checkpoint that failed: written first at the next one.
        var retry: [(rule: String, partition: String, state: JSONValue?)] = []
        /// The steps (events) whose changes are in `retry`, counted as saved when they are.
        var retrySteps = 0
        var failureThrottle = LogThrottle(interval: .seconds(10))
    }

    public init(
        rules: RuleSet, store: WindowStore?, logger: Logger, factory: any MetricsFactory, interval: Duration = .milliseconds(200)
    ) {
        self.store = store
        self.logger = logger
        self.factory = factory
        self.interval = interval
        states.sync(with: rules)
        resume(rules)
        if store != nil {
            let started = JoinableOSThread(name: "weir-partitions") { [self] in loop() }
            thread.withLock { $0 = started }
        }
    }

    /// At start: each rule's saved partitions come back if they were saved with its signature;
    /// other saved state (a changed or removed rule) is dropped.
    private func resume(_ rules: RuleSet) {
        guard let store else { return }
        var live: Set<String> = []
        for rule in rules.rules where rule.enabled {
            guard let signature = PartitionStates.signature(rule) else { continue }
            live.insert(rule.name)
            do {
                let saved = try store.load(rule: rule.name)
                guard saved.signature == signature else {
                    try store.reset(rule: rule.name, signature: signature)
                    if saved.signature != nil {
                        logger.notice("stateful rule changed while stopped: saved partitions discarded", metadata: ["rule": "\(rule.name)"])
                    }
                    continue
                }
                var restored = 0
                for partition in saved.groups
                where states.restore(rule: rule.name, signature: signature, partition: partition.storeKey, state: partition.state) {
                    restored += 1
                }
                if restored > 0 || saved.unreadable > 0 {
                    logger.notice(
                        "partitions resumed",
                        metadata: ["rule": "\(rule.name)", "partitions": "\(restored)", "unreadable": "\(saved.unreadable)"])
                }
            } catch {
                logger.error("partitions could not be loaded; starting empty", metadata: ["rule": "\(rule.name)", "error": "\(error)"])
            }
        }
        do {
            for name in try store.ruleNames() where !live.contains(name) { try store.reset(rule: name, signature: nil) }
        } catch {
            logger.error("saved partitions could not be listed", metadata: ["error": "\(error)"])
        }
    }

    /// After a reload: unchanged rules keep their partitions; changed, new and removed rules'
    /// saved state is reset by the next checkpoint.
    public func sync(with rules: RuleSet) {
        let resets = states.sync(with: rules)
        guard !resets.isEmpty else { return }
        control.withLock { $0.resets += resets }
        wake.signal()
    }

    /// Writes what is pending and stops the thread (on shutdown, before the store closes).
    public func close() {
        control.withLock { $0.stopped = true }
        wake.signal()
        thread.withLock { $0 }?.join()
    }

    private func loop() {
        let saved = (
            partitions: Counter(label: "weir_partitions_checkpointed_total", factory: factory),
            steps: Counter(label: "weir_partition_steps_saved_total", factory: factory)
        )
        var evictedCounters: [String: (counter: Counter, seen: Int)] = [:]
        var gauges: [String: Gauge] = [:]
        while true {
            _ = wake.wait(timeout: .now() + .nanoseconds(Int(interval.nanoseconds)))
            let (stopped, resets, retry, retrySteps) = control.withLock { control in
                defer {
                    control.resets = []
                    control.retry = []
                    control.retrySteps = 0
                }
                return (control.stopped, control.resets, control.retry, control.retrySteps)
            }
            checkpoint(resets: resets, retry: retry, retrySteps: retrySteps, saved: saved)
            for (rule, partitions, evicted) in states.counts() {
                let gauge = gauges[rule] ?? Gauge(label: "weir_rule_partitions", dimensions: [("rule", rule)], factory: factory)
                gauges[rule] = gauge
                gauge.record(partitions)
                var entry =
                    evictedCounters[rule]
                    ?? (Counter(label: "weir_rule_partitions_evicted_total", dimensions: [("rule", rule)], factory: factory), 0)
                if evicted > entry.seen { entry.counter.increment(by: evicted - entry.seen) }
                entry.seen = evicted
                evictedCounters[rule] = entry
            }
            if stopped { return }
        }
    }

    private func checkpoint(
        resets: [(rule: String, signature: String?)], retry: [(rule: String, partition: String, state: JSONValue?)], retrySteps: Int,
        saved: (partitions: Counter, steps: Counter)
    ) {
        guard let store else { return }
        for reset in resets {
            do {
                try store.reset(rule: reset.rule, signature: reset.signature)
            } catch {
                logger.error("saved partitions could not be reset", metadata: ["rule": "\(reset.rule)", "error": "\(error)"])
            }
        }
        let taken = states.takeChangesAndSteps()
        let changes = retry + taken.changes
        let steps = retrySteps + taken.steps
        guard !changes.isEmpty else { return }
        do {
            try store.commit(changes.map { WindowChange(rule: $0.rule, storeKey: $0.partition, state: $0.state) })
            saved.partitions.increment(by: changes.count)
            // Events whose effect on their partitions is now durable (a kill -9 keeps it).
            saved.steps.increment(by: steps)
        } catch {
            let log = control.withLock { control in
                control.retry = changes
                control.retrySteps = steps
                return control.failureThrottle.allow()
            }
            if log { logger.error("partition checkpoint failed; retrying", metadata: ["error": "\(error)"]) }
        }
    }
}
