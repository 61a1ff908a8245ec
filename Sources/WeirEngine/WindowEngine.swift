import Logging
import Metrics
import WeirCore
import WeirRules
import WeirStore

/// The open windows of every windowed rule. Events add to them from the ingest loop; a ticker
/// closes them as time (or the watermark) passes. Each closed group's row runs the rule's actions
/// in the pool, like a per-event match.
///
/// With a store, every changed group is checkpointed continuously (`WindowCheckpointer`), so a
/// crash loses at most the changes of the fsync in progress. A closed window's saved state is
/// deleted only once its row's actions have completed; after a crash in between, the window is
/// emitted again on restart (at-least-once).
///
/// This type is the façade: it keeps the rules' windows in step with the rule set (`sync`, and
/// the saved windows resumed at start) and closes windows on `tick`. Admission is
/// `WindowAdmitter`'s, checkpointing `WindowCheckpointer`'s, spilling `WindowSpilling`'s; all of
/// them work on one `WindowTable` under its one lock (why one: see `WindowTable`).
public final class WindowEngine: Sendable {
    typealias Entry = WindowTable.Entry

    let clock: @Sendable () -> Int64
    let logger: Logger
    let factory: any MetricsFactory
    let store: WindowStore?
    let table: WindowTable
    private let admitter: WindowAdmitter
    /// nil without a store.
    private let checkpointer: WindowCheckpointer?
    /// The checkpoint loop's sign of life for the progress watchdog (nil without a store).
    public var checkpointProgress: ProgressMark? { checkpointer?.progress }

    /// The least time between two window checkpoints that no batch waits for (`ack: receipt`).
    public static let defaultCheckpointRest: Duration = .milliseconds(200)

    /// - Parameter checkpointRest: the least time between two checkpoints that no batch waits for
    ///   (`ack: receipt`); a waiting batch is checkpointed at once.
    public init(
        rules: RuleSet, store: WindowStore? = nil, clock: @escaping @Sendable () -> Int64 = currentTimeMillis, logger: Logger,
        factory: any MetricsFactory, checkpointRest: Duration = WindowEngine.defaultCheckpointRest
    ) {
        self.clock = clock
        self.logger = logger
        self.factory = factory
        self.store = store
        let table = WindowTable()
        self.table = table
        checkpointer = store.map {
            WindowCheckpointer(
                table: table, store: $0, logger: logger, factory: factory, spilling: WindowSpilling(table: table), rest: checkpointRest)
        }
        admitter = WindowAdmitter(table: table, checkpointer: checkpointer, clock: clock, logger: logger)
        sync(with: rules)
        forgetRemovedRules(rules)
        checkpointer?.start()
    }

    /// The saved-state signature: the grouping layout plus how time is told.
    static func signature(_ rule: Rule, _ grouping: GroupedQuery) -> String {
        "\(grouping.signature);time=\(rule.timeMode);max_groups=\(rule.maxGroups)"
    }

    /// At start and after a reload: a rule whose grouping, window, aggregates and time mode are
    /// unchanged keeps its open windows (in memory, or from the store at start); a changed or new
    /// rule starts empty; a removed one is dropped (with its metric handles).
    public func sync(with rules: RuleSet) {
        table.shared.withLock { shared in
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
                    checkpointer?.reset(rule.name, signature, &shared.checkpoint)
                }
                // Same name, same labels: a changed rule keeps its metric handles.
                let metrics = shared.entries[rule.name]?.metrics ?? WindowRuleMetrics(rule: rule.name, factory: factory)
                next[rule.name] = Entry(rule: rule, windows: windows, metrics: metrics)
            }
            for name in shared.entries.keys where next[name] == nil { checkpointer?.reset(name, nil, &shared.checkpoint) }
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

    /// Adds one event's input; returns rows its window emitted at once (count, sliding, sessions).
    /// With a store, `settlement` waits for the checkpoint that makes this change durable.
    func add(_ input: WindowInput, settlement: Settlement? = nil) -> [(Rule, WindowOutput)] {
        admitter.add(input, settlement: settlement)
    }

    /// Closes what the clock or watermark has passed.
    public func tick() -> [(Rule, WindowOutput)] {
        let now = clock()
        return table.shared.withLock { shared in
            var outputs: [(Rule, WindowOutput)] = []
            for name in Array(shared.entries.keys) {
                let ticked = shared.entries.modify(name) { entry in
                    let errorsBefore = entry.windows.rowErrors
                    do throws(EvaluationError) {
                        let closed = try entry.windows.advance(now: now)
                        outputs += closed.map { (entry.rule, $0) }
                    } catch {
                        logger.warning("windowed rule failed closing a window", metadata: ["rule": "\(name)", "error": "\(error.message)"])
                    }
                    let failedRows = entry.windows.rowErrors - errorsBefore
                    if failedRows > 0 { entry.metrics.counter(.errors).increment(by: failedRows) }
                    let open = entry.windows.groups.count + entry.windows.spilled.count
                    entry.metrics.openGroups().record(open)
                    entry.metrics.spilledGroups().record(entry.windows.spilled.count)
                    let newlyLost = entry.windows.lostOnLoad - entry.lostReported
                    if newlyLost > 0 {
                        entry.metrics.counter(.unreadable).increment(by: newlyLost)
                        entry.lostReported = entry.windows.lostOnLoad
                    }
                    return (
                        failedRows: failedRows, rowError: entry.windows.lastRowError?.message ?? "",
                        changed: entry.hasUnsavedChanges, newlyLost: newlyLost
                    )
                }
                guard let ticked else { continue }
                if ticked.failedRows > 0, shared.logThrottle.allow(name) {
                    logger.warning(
                        "windowed rule could not compute a row; that window is dropped",
                        metadata: ["rule": "\(name)", "windows": "\(ticked.failedRows)", "error": "\(ticked.rowError)"])
                }
                if ticked.changed { checkpointer?.markDirty(name, &shared.checkpoint) }
                if ticked.newlyLost > 0 {
                    logger.error("saved window state could not be read back; those groups restart empty", metadata: ["rule": "\(name)"])
                }
            }
            return outputs
        }
    }

    /// A closed window's row: until its actions complete, its final state stays saved.
    func closing(_ rule: String, _ output: WindowOutput) {
        guard let checkpointer, let key = output.storeKey else { return }
        checkpointer.enqueue(WindowChange(rule: rule, storeKey: key, state: output.state))
    }

    /// The row of a closed window was handed on: its saved state can go.
    func delivered(_ rule: String, _ output: WindowOutput) {
        guard let checkpointer, let key = output.storeKey else { return }
        checkpointer.enqueue(WindowChange(rule: rule, storeKey: key, state: nil))
    }

    /// Writes what is pending and stops checkpointing (on shutdown, before the store closes).
    public func close() {
        checkpointer?.close()
    }
}
