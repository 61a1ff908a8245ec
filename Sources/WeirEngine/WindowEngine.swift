import Dispatch
import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRules
import WeirStore

/// The open windows of every windowed rule. Events add to them from the ingest loop; a ticker
/// closes them as time (or the watermark) passes. Each closed group's row runs the rule's actions
/// in the pool, like a per-event match.
///
/// With a store, every changed group is checkpointed continuously: a checkpoint thread writes
/// whatever changed since its last write in one batch with one fsync, back to back (the outbox's
/// group commit), so a crash loses at most the changes of the fsync in progress. A closed
/// window's saved state is deleted only once its row's actions have completed; after a crash in
/// between, the window is emitted again on restart (at-least-once).
public final class WindowEngine: Sendable {
    struct Entry {
        var rule: Rule
        var windows: WindowOperator
        var lostReported = 0
    }

    struct Shared {
        var entries: [String: Entry] = [:]
        /// Rules with groups changed since the last checkpoint; their states are encoded at
        /// checkpoint time, so a group updated by many events is encoded once per checkpoint.
        var dirtyRules: Set<String> = []
        /// Explicit changes (a closed window's final state, its deletion), by "<rule>\u{0}<store
        /// key>"; the last one wins, and they apply after the dirty groups.
        var pending: [String: WindowChange] = [:]
        /// Rules whose saved state must be dropped (and the signature to record), written before
        /// any later change so a checkpoint in flight cannot resurrect discarded groups.
        var resets: [(rule: String, signature: String?)] = []
        var stopped = false
        /// Events that changed a group since the last checkpoint was taken.
        var unsavedEvents = 0
        /// Per-rule log throttle: a bad field in every event must not flood the journal.
        var logThrottle = LogThrottle(interval: .seconds(5))
        /// Changes of a checkpoint that failed, by key: written first at the next one, so that any
        /// newer snapshot or explicit change of the same group (written after them) wins.
        var retry: [String: WindowChange] = [:]
        /// Batches waiting for the next checkpoint to make their events' window effects durable.
        var checkpointWaiters: [Settlement] = []
        /// Failed checkpoints are logged once per 10 s while the store fails.
        var failureThrottle = LogThrottle(interval: .seconds(10))
    }

    private let shared = Mutex(Shared())
    let clock: @Sendable () -> Int64
    let logger: Logger
    let factory: any MetricsFactory
    let store: WindowStore?
    private let wake = DispatchSemaphore(value: 0)
    private let checkpointer = Mutex<JoinableOSThread?>(nil)

    public init(
        rules: RuleSet, store: WindowStore? = nil, clock: @escaping @Sendable () -> Int64 = currentTimeMillis, logger: Logger,
        factory: any MetricsFactory
    ) {
        self.clock = clock
        self.logger = logger
        self.factory = factory
        self.store = store
        sync(with: rules)
        forgetRemovedRules(rules)
        if store != nil {
            let thread = JoinableOSThread(name: "weir-windows") { [self] in checkpointLoop() }
            checkpointer.withLock { $0 = thread }
        }
    }

    /// The saved-state signature: the grouping layout plus how time is told.
    static func signature(_ rule: Rule, _ grouping: GroupedQuery) -> String {
        "\(grouping.signature);time=\(rule.timeMode);max_groups=\(rule.maxGroups)"
    }

    /// At start and after a reload: a rule whose grouping, window, aggregates and time mode are
    /// unchanged keeps its open windows (in memory, or from the store at start); a changed or new
    /// rule starts empty; a removed one is dropped.
    public func sync(with rules: RuleSet) {
        shared.withLock { shared in
            var next: [String: Entry] = [:]
            for rule in rules.rules where rule.enabled {
                guard let grouping = rule.query.grouping else { continue }
                let signature = Self.signature(rule, grouping)
                if var kept = shared.entries[rule.name], Self.signature(kept.rule, kept.windows.query) == signature {
                    kept.rule = rule  // max_groups_in_memory may change freely
                    next[rule.name] = kept
                    continue
                }
                if let old = shared.entries[rule.name], !old.windows.groups.isEmpty {
                    logger.warning(
                        "windowed rule changed: its open windows are discarded",
                        metadata: ["rule": "\(rule.name)", "groups": "\(old.windows.groups.count)"])
                }
                var windows = WindowOperator(query: grouping, timeMode: rule.timeMode, maxGroups: rule.maxGroups)
                if let store {
                    let name = rule.name
                    windows.loader = { key in store.load(rule: name, storeKey: key) }
                }
                if shared.entries[rule.name] == nil {
                    restore(rule, signature, into: &windows)
                } else {
                    reset(rule.name, signature, &shared)
                }
                next[rule.name] = Entry(rule: rule, windows: windows)
            }
            for name in shared.entries.keys where next[name] == nil { reset(name, nil, &shared) }
            shared.entries = next
        }
    }

    /// Saved state of rules that were removed or disabled while Weir was stopped is dropped at
    /// start, as a reload would have done.
    private func forgetRemovedRules(_ rules: RuleSet) {
        guard let store else { return }
        let live = Set(rules.rules.filter { $0.enabled && $0.query.grouping != nil }.map(\.name))
        do {
            for name in try store.ruleNames() where !live.contains(name) {
                try store.reset(rule: name, signature: nil)
                logger.notice("saved windows of a rule that no longer exists were dropped", metadata: ["rule": "\(name)"])
            }
        } catch {
            logger.error("window state could not be listed", metadata: ["error": "\(error)"])
        }
    }

    /// Resumes the rule's saved windows if they were saved with the same signature.
    private func restore(_ rule: Rule, _ signature: String, into windows: inout WindowOperator) {
        guard let store else { return }
        do {
            let saved = try store.load(rule: rule.name)
            guard saved.signature == signature else {
                if saved.signature != nil {
                    logger.notice("windowed rule changed while stopped: saved windows discarded", metadata: ["rule": "\(rule.name)"])
                }
                try store.reset(rule: rule.name, signature: signature)
                return
            }
            var restored = 0
            for group in saved.groups where windows.restore(storeKey: group.storeKey, json: group.state) { restored += 1 }
            windows.resumeClock(at: clock())
            if restored > 0 || saved.unreadable > 0 {
                logger.notice(
                    "open windows resumed",
                    metadata: ["rule": "\(rule.name)", "groups": "\(restored)", "unreadable": "\(saved.unreadable)"])
            }
        } catch {
            logger.error("window state could not be loaded; starting empty", metadata: ["rule": "\(rule.name)", "error": "\(error)"])
        }
    }

    private func reset(_ rule: String, _ signature: String?, _ shared: inout Shared) {
        guard store != nil else { return }
        shared.pending = shared.pending.filter { $0.value.rule != rule }
        shared.retry = shared.retry.filter { $0.value.rule != rule }
        shared.dirtyRules.remove(rule)
        shared.resets.append((rule, signature))
        wake.signal()
    }

    /// Adds one event's input; returns rows its window emitted at once (count, sliding, sessions).
    /// With a store, `settlement` waits for the checkpoint that makes this change durable.
    func add(_ input: WindowInput, settlement: Settlement? = nil) -> [(Rule, WindowOutput)] {
        let now = clock()
        let result: Result<(WindowAdmission, [WindowOutput]), EvaluationError>? = shared.withLock { shared in
            guard var entry = shared.entries[input.rule.name] else { return nil }
            // Processing time is this engine's clock (not the receive stamp), so windows and the
            // clock that closes them agree, and tests can drive both.
            let time = input.rule.timeMode == .processing ? now : input.time
            let outcome = Result { () throws(EvaluationError) in
                try entry.windows.add(keys: input.keys, values: input.values, time: time, now: now)
            }
            if let settlement, store != nil, case .success((.accepted, _)) = outcome {
                settlement.begin()
                shared.checkpointWaiters.append(settlement)
            }
            collect(&entry, into: &shared)
            shared.entries[input.rule.name] = entry
            return outcome
        }
        switch result {
        case nil:
            return []
        case .success(let (admission, outputs)):
            switch admission {
            case .accepted: counter("weir_window_events_total", input.rule.name).increment()
            case .late:
                counter("weir_window_late_events_total", input.rule.name).increment()
                if !input.rule.lateActions.isEmpty {
                    var row = JSONObject()
                    if case .object(let object) = input.payload { row = object } else { row["payload"] = input.payload }
                    return [(input.rule, WindowOutput(row: row, windowStart: input.time, windowEnd: input.time, late: true))]
                }
            case .overGroupLimit: counter("weir_window_groups_dropped_total", input.rule.name).increment()
            }
            return outputs.map { (input.rule, $0) }
        case .failure(let error):
            counter("weir_rule_errors_total", input.rule.name).increment()
            if shouldLog(input.rule.name) {
                logger.warning("windowed rule failed on event", metadata: ["rule": "\(input.rule.name)", "error": "\(error.message)"])
            }
            return []
        }
    }

    /// Closes what the clock or watermark has passed.
    public func tick() -> [(Rule, WindowOutput)] {
        let now = clock()
        return shared.withLock { shared in
            var outputs: [(Rule, WindowOutput)] = []
            for (name, var entry) in shared.entries {
                let errorsBefore = entry.windows.rowErrors
                do throws(EvaluationError) {
                    let closed = try entry.windows.advance(now: now)
                    outputs += closed.map { (entry.rule, $0) }
                } catch {
                    logger.warning("windowed rule failed closing a window", metadata: ["rule": "\(name)", "error": "\(error.message)"])
                }
                let failedRows = entry.windows.rowErrors - errorsBefore
                if failedRows > 0 {
                    counter("weir_rule_errors_total", name).increment(by: failedRows)
                    if shouldLog(name, &shared) {
                        logger.warning(
                            "windowed rule could not compute a row; that window is dropped",
                            metadata: [
                                "rule": "\(name)", "windows": "\(failedRows)", "error": "\(entry.windows.lastRowError?.message ?? "")",
                            ])
                    }
                }
                collect(&entry, into: &shared)
                let open = entry.windows.groups.count + entry.windows.spilled.count
                Gauge(label: "weir_window_open_groups", dimensions: [("rule", name)], factory: factory).record(open)
                Gauge(label: "weir_window_spilled_groups", dimensions: [("rule", name)], factory: factory).record(
                    entry.windows.spilled.count)
                if entry.windows.lostOnLoad > entry.lostReported {
                    counter("weir_window_groups_unreadable_total", name).increment(by: entry.windows.lostOnLoad - entry.lostReported)
                    logger.error("saved window state could not be read back; those groups restart empty", metadata: ["rule": "\(name)"])
                    entry.lostReported = entry.windows.lostOnLoad
                }
                shared.entries[name] = entry
            }
            return outputs
        }
    }

    /// Marks the entry's rule for the next checkpoint.
    private func collect(_ entry: inout Entry, into shared: inout Shared) {
        guard store != nil, !entry.windows.touched.isEmpty || !entry.windows.discarded.isEmpty else { return }
        let wasIdle = shared.pending.isEmpty && shared.dirtyRules.isEmpty
        shared.dirtyRules.insert(entry.rule.name)
        shared.unsavedEvents += 1
        if wasIdle { wake.signal() }
    }

    /// A closed window's row: until its actions complete, its final state stays saved.
    func closing(_ rule: String, _ output: WindowOutput) {
        guard store != nil, let key = output.storeKey else { return }
        enqueue(WindowChange(rule: rule, storeKey: key, state: output.state))
    }

    /// The row of a closed window was handed on: its saved state can go.
    func delivered(_ rule: String, _ output: WindowOutput) {
        guard store != nil, let key = output.storeKey else { return }
        enqueue(WindowChange(rule: rule, storeKey: key, state: nil))
    }

    private func enqueue(_ change: WindowChange) {
        let wasIdle = shared.withLock { shared in
            defer { shared.pending["\(change.rule)\u{0}\(change.storeKey)"] = change }
            return shared.pending.isEmpty && shared.dirtyRules.isEmpty
        }
        if wasIdle { wake.signal() }
    }

    private func checkpointLoop() {
        while true {
            _ = wake.wait(timeout: .now() + .seconds(1))
            let (resets, changes, stopped, events, waiters) = shared.withLock { shared in
                var changes = Array(shared.retry.values)
                shared.retry.removeAll(keepingCapacity: true)
                for name in shared.dirtyRules {
                    guard var entry = shared.entries[name] else { continue }
                    changes += entry.windows.takeTouched().map { WindowChange(rule: name, storeKey: $0.storeKey, state: $0.state) }
                    changes += entry.windows.takeDiscarded().map { WindowChange(rule: name, storeKey: $0, state: nil) }
                    shared.entries[name] = entry
                }
                changes += shared.pending.values
                defer {
                    shared.dirtyRules.removeAll(keepingCapacity: true)
                    shared.pending.removeAll(keepingCapacity: true)
                    shared.resets.removeAll()
                    shared.unsavedEvents = 0
                    shared.checkpointWaiters.removeAll(keepingCapacity: true)
                }
                return (shared.resets, changes, shared.stopped, shared.unsavedEvents, shared.checkpointWaiters)
            }
            for reset in resets {
                do {
                    try store?.reset(rule: reset.rule, signature: reset.signature)
                } catch {
                    logger.error("window state could not be reset", metadata: ["rule": "\(reset.rule)", "error": "\(error)"])
                }
            }
            if changes.isEmpty {
                for waiter in waiters { waiter.end() }
            } else {
                do {
                    try store?.commit(changes)
                    Counter(label: "weir_window_checkpointed_groups_total", factory: factory).increment(by: changes.count)
                    // Events whose effect on their windows is now durable (a kill -9 keeps them).
                    Counter(label: "weir_window_events_saved_total", factory: factory).increment(by: events)
                    for waiter in waiters { waiter.end() }
                    spillIfOverBudget()
                } catch {
                    // Their events are not acknowledged (the broker sends them again); the
                    // changes stay pending and go with the next checkpoint that succeeds.
                    for waiter in waiters { waiter.end(StoreWriteFailed(reason: "window checkpoint: \(error)")) }
                    let log = shared.withLock { $0.failureThrottle.allow() }
                    if log { logger.error("window checkpoint failed; retrying", metadata: ["error": "\(error)"]) }
                    shared.withLock { shared in
                        shared.unsavedEvents += events
                        // In order: for a key written twice in the failed attempt, the later write wins.
                        for change in changes { shared.retry["\(change.rule)\u{0}\(change.storeKey)"] = change }
                    }
                }
            }
            if stopped { return }
        }
    }

    /// After a checkpoint, every group not changed since is saved: rules over their in-memory
    /// budget move their least recently updated such groups out of memory (to 90 % of the budget).
    private func spillIfOverBudget() {
        shared.withLock { shared in
            for (name, var entry) in shared.entries where entry.windows.groups.count > entry.rule.maxGroupsInMemory {
                let target = entry.rule.maxGroupsInMemory * 9 / 10
                let candidates = entry.windows.groups.filter { !entry.windows.touched.contains($0.key) }
                let victims = candidates.sorted { $0.value.lastEvent < $1.value.lastEvent }
                    .prefix(max(0, entry.windows.groups.count - target)).map(\.key)
                entry.windows.evict(victims)
                shared.entries[name] = entry
                Gauge(label: "weir_window_spilled_groups", dimensions: [("rule", name)], factory: factory).record(
                    entry.windows.spilled.count)
            }
        }
    }

    /// Writes what is pending and stops checkpointing (on shutdown, before the store closes).
    public func close() {
        shared.withLock { $0.stopped = true }
        wake.signal()
        checkpointer.withLock { $0 }?.join()
    }

    private func shouldLog(_ rule: String) -> Bool {
        shared.withLock { shouldLog(rule, &$0) }
    }

    private func shouldLog(_ rule: String, _ shared: inout Shared) -> Bool {
        shared.logThrottle.allow(rule)
    }

    private func counter(_ label: String, _ rule: String) -> Counter {
        Counter(label: label, dimensions: [("rule", rule)], factory: factory)
    }
}
