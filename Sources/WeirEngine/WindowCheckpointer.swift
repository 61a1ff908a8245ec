import Dispatch
import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRules
import WeirStore

/// Continuous checkpointing (with a store): the "weir-windows" thread writes whatever changed since
/// its last write in one batch with one fsync, back to back (the outbox's group commit) while
/// batches wait for it (`ack: durable`), so a crash loses at most the changes of the fsync in
/// progress. When nothing waits (`ack: receipt`) checkpoints start at most every `rest`:
/// a busy group is then encoded and written a few times a second, not once per fsync (back to
/// back, the checkpoints took a core of their own beside ingest with 100 busy groups). Each checkpoint settles the batches that
/// waited for it exactly once: on success each ends, on failure each ends with `StoreWriteFailed`
/// (their events are not acknowledged) and the changes are retried with the next checkpoint.
final class WindowCheckpointer: Sendable {
    /// The checkpoint bookkeeping, kept in `WindowTable.Contents` under the table's lock.
    struct State {
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
        /// Changes of a checkpoint that failed, by key: written first at the next one, so that any
        /// newer snapshot or explicit change of the same group (written after them) wins.
        var retry: [String: WindowChange] = [:]
        /// Batches waiting for the next checkpoint to make their events' window effects durable.
        var waiters: [Settlement] = []
        /// Failed checkpoints are logged once per 10 s while the store fails.
        var failureThrottle = LogThrottle(interval: .seconds(10))
        /// The thread is waiting out `rest`: a first waiter wakes it.
        var resting = false

        var isIdle: Bool { pending.isEmpty && dirtyRules.isEmpty }
    }

    private let table: WindowTable
    private let store: WindowStore
    private let logger: Logger
    private let factory: any MetricsFactory
    private let spilling: WindowSpilling
    private let wake = DispatchSemaphore(value: 0)
    private let thread = Mutex<JoinableOSThread?>(nil)
    /// The least time between the starts of two checkpoints that no batch waits for.
    let rest: Duration
    /// The checkpoint loop's sign of life for the progress watchdog.
    let progress = ProgressMark(name: "window checkpoints")

    init(table: WindowTable, store: WindowStore, logger: Logger, factory: any MetricsFactory, spilling: WindowSpilling, rest: Duration) {
        self.rest = rest
        self.table = table
        self.store = store
        self.logger = logger
        self.factory = factory
        self.spilling = spilling
    }

    /// Starts the checkpoint thread.
    func start() {
        let started = JoinableOSThread(name: "weir-windows") { [self] in loop() }
        thread.withLock { $0 = started }
    }

    /// Writes what is pending and stops the thread (on shutdown, before the store closes).
    func close() {
        table.shared.withLock { $0.checkpoint.stopped = true }
        wake.signal()
        thread.withLock { $0 }?.join()
    }

    /// Marks the rule's changed groups for the next checkpoint.
    func markDirty(_ rule: String, _ state: inout State) {
        let wasIdle = state.isIdle
        state.dirtyRules.insert(rule)
        state.unsavedEvents += 1
        if wasIdle { wake.signal() }
    }

    /// `settlement` waits for the next checkpoint (taken after the change just made).
    func register(_ settlement: Settlement, _ state: inout State) {
        settlement.begin()
        state.waiters.append(settlement)
        if state.resting {
            state.resting = false
            wake.signal()
        }
    }

    /// The rule's saved state is dropped (recording `signature`) before any later change.
    func reset(_ rule: String, _ signature: String?, _ state: inout State) {
        state.pending = state.pending.filter { $0.value.rule != rule }
        state.retry = state.retry.filter { $0.value.rule != rule }
        state.dirtyRules.remove(rule)
        state.resets.append((rule, signature))
        wake.signal()
    }

    /// An explicit change (a closed window's final state or its deletion) for the next checkpoint.
    func enqueue(_ change: WindowChange) {
        let wasIdle = table.shared.withLock { shared in
            defer { shared.checkpoint.pending["\(change.rule)\u{0}\(change.storeKey)"] = change }
            return shared.checkpoint.isIdle
        }
        if wasIdle { wake.signal() }
    }

    private struct Snapshot {
        var resets: [(rule: String, signature: String?)]
        /// Taken under the lock; encoded (`changes`) after it is released.
        var taken: [Taken]
        var stopped: Bool
        var events: Int
        var waiters: [Settlement]

        /// The changes in write order, the taken groups encoded now (off the table's lock).
        var changes: [WindowChange] {
            taken.map { item in
                switch item {
                case .change(let change): change
                case .group(let rule, let storeKey, let group): WindowChange(rule: rule, storeKey: storeKey, state: group?.json)
                }
            }
        }
    }

    /// One item of a checkpoint: a change as it is, or a changed group (a value copy) to encode.
    private enum Taken {
        case change(WindowChange)
        case group(rule: String, storeKey: String, WindowOperator.Group?)
    }

    /// Takes what the next checkpoint writes: retried changes first, then the dirty rules' changed
    /// and discarded groups, then explicit changes; and the waiters it settles. Only copies: the
    /// encoding happens outside the lock, so admission does not wait for it.
    private func snapshot(_ shared: inout WindowTable.Contents) -> Snapshot {
        var changes = shared.checkpoint.retry.values.map(Taken.change)
        shared.checkpoint.retry.removeAll(keepingCapacity: true)
        for name in shared.checkpoint.dirtyRules {
            shared.entries.modify(name) { entry in
                for (storeKey, group) in entry.windows.takeTouchedGroups() { changes.append(.group(rule: name, storeKey: storeKey, group)) }
                for storeKey in entry.windows.takeDiscarded() {
                    changes.append(.change(WindowChange(rule: name, storeKey: storeKey, state: nil)))
                }
            }
        }
        changes += shared.checkpoint.pending.values.map(Taken.change)
        let taken = Snapshot(
            resets: shared.checkpoint.resets, taken: changes, stopped: shared.checkpoint.stopped,
            events: shared.checkpoint.unsavedEvents, waiters: shared.checkpoint.waiters)
        shared.checkpoint.dirtyRules.removeAll(keepingCapacity: true)
        shared.checkpoint.pending.removeAll(keepingCapacity: true)
        shared.checkpoint.resets.removeAll()
        shared.checkpoint.unsavedEvents = 0
        shared.checkpoint.waiters.removeAll(keepingCapacity: true)
        return taken
    }

    private func loop() {
        // Made on the first checkpoint that writes something, then kept.
        var savedMetrics: (groups: Counter, events: Counter)?
        // The start of the last checkpoint that wrote something: passes that find nothing to
        // write do not delay the next one.
        var lastStart: UInt64 = 0
        while true {
            _ = wake.wait(timeout: .now() + .seconds(1))
            rest(since: lastStart)
            let started = monotonicNanos()
            let taken = table.shared.withLock { snapshot(&$0) }
            if !taken.taken.isEmpty || !taken.resets.isEmpty { lastStart = started }
            let changes = taken.changes  // encoded here, off the lock
            progress.begin()
            defer {
                progress.advance()
                progress.end()
            }
            for reset in taken.resets {
                do {
                    try store.reset(rule: reset.rule, signature: reset.signature)
                } catch {
                    logger.error("window state could not be reset", metadata: ["rule": "\(reset.rule)", "error": "\(error)"])
                }
            }
            if changes.isEmpty {
                for waiter in taken.waiters { waiter.end() }
            } else {
                do {
                    try store.commit(changes)
                    let metrics =
                        savedMetrics ?? (
                            Counter(label: "weir_window_checkpointed_groups_total", factory: factory),
                            Counter(label: "weir_window_events_saved_total", factory: factory)
                        )
                    savedMetrics = metrics
                    metrics.groups.increment(by: changes.count)
                    // Events whose effect on their windows is now durable (a kill -9 keeps them).
                    metrics.events.increment(by: taken.events)
                    for waiter in taken.waiters { waiter.end() }
                    spilling.spillIfOverBudget()
                } catch {
                    // Their events are not acknowledged (the broker sends them again); the
                    // changes stay pending and go with the next checkpoint that succeeds.
                    for waiter in taken.waiters { waiter.end(StoreWriteFailed(reason: "window checkpoint: \(error)")) }
                    let log = table.shared.withLock { $0.checkpoint.failureThrottle.allow() }
                    if log { logger.error("window checkpoint failed; retrying", metadata: ["error": "\(error)"]) }
                    table.shared.withLock { shared in
                        shared.checkpoint.unsavedEvents += taken.events
                        // In order: for a key written twice in the failed attempt, the later write wins.
                        for change in changes { shared.checkpoint.retry["\(change.rule)\u{0}\(change.storeKey)"] = change }
                    }
                }
            }
            if taken.stopped { return }
        }
    }

    /// Waits until `rest` after `start`, unless a batch waits for the next checkpoint, or the
    /// checkpointer stops.
    private func rest(since start: UInt64) {
        let until = start + UInt64(rest.nanoseconds)
        while monotonicNanos() < until {
            let goOn = table.shared.withLock { shared in
                let go = !shared.checkpoint.waiters.isEmpty || shared.checkpoint.stopped
                shared.checkpoint.resting = !go
                return go
            }
            if goOn { return }
            _ = wake.wait(timeout: .now() + .nanoseconds(Int(until - min(until, monotonicNanos()))))
        }
        table.shared.withLock { $0.checkpoint.resting = false }
    }
}
