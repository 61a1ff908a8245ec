import Logging
import Synchronization
import WeirActions
import WeirCore
import WeirRules

/// Runs the rules on one event and hands what they produce to the pool: output rows become
/// invocations of the rules' actions, windowed rules' inputs go to their windows.
///
/// Device events come from ingest; events emitted by functions come from the pool's own workers,
/// which must never wait for room in their own pool (`fromWorker`).
public final class EventRouter: Sendable {
    public let rules: LiveRules
    public let pool: ActionPool
    let windows: WindowEngine
    /// The stateful functions' partitions (nil: every partition is new, as in a dry run).
    let partitions: PartitionStates?
    let metrics: EngineMetrics
    let maxPayloadBytes: Int
    let logger: Logger
    /// Open `weir tap`s; the router offers them events and rows only while one is open.
    public let taps: TapHub
    /// One log line per reason or rule per 5 s: a flood of bad events is counted in metrics but
    /// does not flood the journal.
    private let throttle = SharedLogThrottle(interval: .seconds(5))

    public init(
        rules: LiveRules, pool: ActionPool, windows: WindowEngine, metrics: EngineMetrics, maxPayloadBytes: Int, logger: Logger,
        taps: TapHub = TapHub(), partitions: PartitionStates? = nil
    ) {
        self.partitions = partitions
        self.taps = taps
        self.rules = rules
        self.pool = pool
        self.windows = windows
        self.metrics = metrics
        self.maxPayloadBytes = maxPayloadBytes
        self.logger = logger
    }

    /// Routes one event. Every effect it starts joins `settlement` (when given), which the
    /// caller seals: the event's acknowledgement waits for them.
    public func route(_ event: Event, fromWorker: Bool = false, settlement: Settlement? = nil) async {
        // MQTT 5's message expiry: the publisher said not to act on it after this; the broker
        // honours it while the message is queued there, Weir while it waits in the ingest buffer.
        if event.isExpired() {
            metrics.eventsExpired.increment()
            return
        }
        let tapping = taps.isActive
        if tapping { taps.offer(event) }
        let outcome = rules.snapshot.set.process(event, maxPayloadBytes: maxPayloadBytes, partitions: partitions)
        if outcome.candidates == 0 {
            metrics.eventsUnmatched.increment()
            return
        }
        // Counted once per reason: the rules of another format may still have run on the event.
        for rejection in outcome.payloadErrors {
            metrics.invalidEvent(reason: rejection.reason)
            if allowLog(rejection.reason) {
                logger.warning("invalid event skipped", metadata: ["topic": "\(event.topic)", "error": "\(rejection.message)"])
            }
        }
        for failure in outcome.failures {
            metrics.failed(rule: failure.rule)
            if allowLog("rule:" + failure.rule) {
                logger.warning(
                    "rule failed on event", metadata: ["rule": "\(failure.rule)", "topic": "\(event.topic)", "error": "\(failure.error)"])
            }
        }
        for input in outcome.windowInputs {
            metrics.matched(rule: input.rule.name)
            if tapping { taps.offer(window: input, topic: event.topic) }
            await submit(
                windows.add(input, settlement: settlement), engine: windows, to: pool, fromWorker: fromWorker, settlement: settlement)
        }
        for match in outcome.matches {
            metrics.matched(rule: match.rule.name)
            if tapping { taps.offer(rule: match.rule, row: match.row, topic: event.topic) }
            for action in match.rule.actions {
                var invocation = Invocation(
                    rule: match.rule.name, action: action, row: match.row, topic: event.topic, receivedAt: event.receivedAt,
                    ingestNanos: event.receivedNanos)
                invocation.hops = event.hops
                invocation.settlement = settlement
                await pool.submit(invocation, fromWorker: fromWorker)
            }
        }
    }

    private func allowLog(_ key: String) -> Bool {
        throttle.allow(key)
    }
}

/// Where functions' emitted events go: set once the router exists (the router needs the pool,
/// whose executor needs the function runner that emits).
public final class EmitSink: Sendable {
    private let router = Mutex<EventRouter?>(nil)

    public init() {}

    public func connect(_ target: EventRouter) {
        router.withLock { $0 = target }
    }

    /// Routes an emitted event; refuses it (false) while the pool holds more than
    /// max(2 × `max_queued`, 10,000) invocations: emitted work may pass the bound (it cannot
    /// wait), but not without limit.
    public func emit(_ event: Event) async throws -> Bool {
        guard let target = router.withLock({ $0 }) else { return false }
        guard target.pool.queued <= max(2 * target.pool.configuration.maxQueued, 10_000) else { return false }
        target.metrics.eventsEmitted.increment()
        // The emitting invocation stays journaled until what its output triggered is settled.
        let settlement = Settlement()
        await target.route(event, fromWorker: true, settlement: settlement)
        settlement.seal()
        if case .unsettled(let reason) = await settlement.value() { throw StoreWriteFailed(reason: reason) }
        return true
    }
}
