import Logging
import Synchronization
import WeirCore
import WeirRules

/// The rule set in force, swapped atomically on reload.
///
/// The ingest loop reads `current` once per event, so each event is evaluated entirely against one
/// set: a reload between two events never splits or repeats one.
public final class LiveRules: Sendable {
    /// A loaded rule set, shared by reference: reading the one in force costs one retain, where
    /// copying the `RuleSet` value retained each of its arrays and tables, once per event.
    public final class Snapshot: Sendable {
        public let set: RuleSet
        init(_ set: RuleSet) { self.set = set }
    }

    private let rules: Mutex<Snapshot>
    private let reloadLock = Mutex(())
    public let directory: String
    /// Upstream names that `forward` actions may name.
    let upstreams: Set<String>
    private let logger: Logger
    private let metrics: EngineMetrics
    private let onChange: Mutex<[@Sendable (RuleSet) -> Void]>
    private let lastReloadState = Mutex<ReloadRecord?>(nil)

    /// One reload: when (epoch ms), why, and how it went (`weir status`).
    public struct ReloadRecord: Sendable, Equatable {
        public var at: Int64
        public var reason: String
        public var succeeded: Bool
        /// Diagnostics of a rejected reload (0 when it succeeded).
        public var errors: Int
        /// The first diagnostic of a rejected reload, as `path:line:col: message`.
        public var firstError: String?
    }

    /// The last reload since the daemon started, nil when there was none.
    public var lastReload: ReloadRecord? { lastReloadState.withLock { $0 } }

    public init(initial: RuleSet, directory: String, upstreams: Set<String>, logger: Logger, metrics: EngineMetrics) {
        self.upstreams = upstreams
        rules = Mutex(Snapshot(initial))
        self.directory = directory
        self.logger = logger
        self.metrics = metrics
        onChange = Mutex([])
        metrics.rulesLoaded.record(initial.rules.count)
        releaseFreedMemory()
    }

    /// The rule set in force, as a value (for callers off the per-event path).
    public var current: RuleSet { snapshot.set }

    /// The rule set in force, by reference: what the per-event path reads.
    public var snapshot: Snapshot { rules.withLock { $0 } }

    /// Adds a handler called after every successful swap (the daemon registers its `ReloadEffects`:
    /// windows, subscriptions, functions' workers).
    public func onChange(_ handler: @escaping @Sendable (RuleSet) -> Void) {
        onChange.withLock { $0.append(handler) }
    }

    /// Loads the directory again; on any error keeps the running set and reports every problem.
    @discardableResult
    public func reload(reason: String) -> Bool {
        reloadLock.withLock { _ in reloadLocked(reason: reason) }
    }

    private func reloadLocked(reason: String) -> Bool {
        do throws(DiagnosticList) {
            let fresh = try RuleLoader.load(directory: directory, upstreams: upstreams)
            rules.withLock { $0 = Snapshot(fresh) }
            metrics.rulesLoaded.record(fresh.rules.count)
            metrics.reload(result: "ok")
            lastReloadState.withLock {
                $0 = ReloadRecord(at: currentTimeMillis(), reason: reason, succeeded: true, errors: 0, firstError: nil)
            }
            logger.notice(
                "rules reloaded", metadata: ["reason": "\(reason)", "rules": "\(fresh.rules.count)"])
            for handler in onChange.withLock({ $0 }) { handler(fresh) }
            // The parse's garbage and the previous set (once its last reader is done) go back.
            releaseFreedMemory()
            return true
        } catch {
            metrics.reload(result: "failed")
            lastReloadState.withLock {
                $0 = ReloadRecord(
                    at: currentTimeMillis(), reason: reason, succeeded: false, errors: error.diagnostics.count,
                    firstError: error.diagnostics.first.map { "\($0)" })
            }
            for diagnostic in error.diagnostics {
                logger.error("\(diagnostic)")
            }
            logger.error(
                "rule reload rejected; the previous rules stay active",
                metadata: ["reason": "\(reason)", "errors": "\(error.diagnostics.count)"])
            return false
        }
    }
}
