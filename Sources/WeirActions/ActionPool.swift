import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRules

/// A bounded concurrent pool that runs invocations of a rule's actions (publish, log, forward,
/// call); a `call` runs a user's function through `FunctionRunner`.
///
/// At most `maxConcurrency` invocations run at once and at most `maxQueued` wait. `submit` suspends
/// while the queue is full, which stops the ingest loop, which stops libmosquitto reading: pressure
/// travels back to the broker instead of anything being dropped.
public final class ActionPool: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var maxConcurrency: Int
        public var maxQueued: Int
        /// Started actions that may wait for completion outside a worker (forwards waiting for
        /// their fsync); when all are taken, workers wait, and backpressure reaches ingest.
        public var maxPipelined: Int
        /// Invocations that may wait for a retry at once, and the bytes of their rows; a failure
        /// past either bound is dead-lettered at once instead of retried.
        public var maxRetrying: Int
        public var maxRetryingBytes: Int

        public init(
            maxConcurrency: Int = 8, maxQueued: Int = 10_000, maxPipelined: Int = 1024, maxRetrying: Int = 10_000,
            maxRetryingBytes: Int = 64 << 20
        ) {
            self.maxConcurrency = maxConcurrency
            self.maxQueued = maxQueued
            self.maxPipelined = maxPipelined
            self.maxRetrying = maxRetrying
            self.maxRetryingBytes = maxRetryingBytes
        }
    }

    public let configuration: Configuration
    /// Submitters inside `submit` that may be waiting for room (queue or pipeline): backpressure,
    /// which the progress watchdog does not count as a stalled ingest loop.
    private let submittersWaiting = Atomic<Int>(0)
    /// Whether a submitter may be waiting for room in the pool now.
    public var isApplyingBackpressure: Bool { submittersWaiting.load(ordering: .relaxed) > 0 }
    private let queue: BoundedQueue<Invocation>
    private let executor: any ActionExecutor
    private let logger: Logger
    private let metrics: PoolMetrics
    private let inFlight = Atomic<Int>(0)
    private let peakInFlight = Atomic<Int>(0)
    private let pipeline: AsyncSemaphore
    /// Invocations waiting out a retry backoff (no worker held), and their timers.
    private let retrying = AsyncSemaphore(limit: 1 << 40)
    /// Set by `finish()`: outside work is refused; retries go at once; the queue closes once
    /// no retry is pending.
    private let draining = Atomic<Bool>(false)
    /// Row bytes of the invocations waiting for a retry.
    private let retryingBytes = Atomic<Int>(0)
    /// Keeps `call:` invocations durable until they are settled; nil keeps them in memory only.
    private let journal: (any InvocationJournaling)?
    private let failureLog = SharedLogThrottle(interval: .seconds(5))

    public init(
        configuration: Configuration, executor: any ActionExecutor, journal: (any InvocationJournaling)? = nil, logger: Logger,
        metricsFactory: any MetricsFactory
    ) {
        self.configuration = configuration
        self.journal = journal
        self.queue = BoundedQueue(capacity: configuration.maxQueued)
        self.executor = executor
        self.logger = logger
        self.metrics = PoolMetrics(factory: metricsFactory)
        pipeline = AsyncSemaphore(limit: max(1, configuration.maxPipelined))
    }

    /// Queues an invocation, waiting for room. Returns `false` once the pool is shutting down.
    ///
    /// The invocation's settlement (if any) is ended once the action is settled: a forward or
    /// publish when it is durable or acknowledged, a `call:` once it is journaled, a `log` once it
    /// is queued, a failure that is final when it happens.
    ///
    /// - Parameter fromWorker: the submitter is one of this pool's own workers (a function's
    ///   emitted event re-entering the rules). Such work never waits for room, which could wait
    ///   forever on workers that are all submitting, and is accepted while the pool drains; the
    ///   queue may pass `max_queued` by it, and ingest waits until it is back below.
    @discardableResult
    public func submit(_ invocation: Invocation, fromWorker: Bool = false) async -> Bool {
        let settlement = invocation.settlement
        settlement?.begin()
        if (draining.load(ordering: .relaxed) || queue.isFinished) && !fromWorker {
            metrics.rejected.increment()
            logger.error("function pool is shutting down; invocation not run", metadata: ["rule": "\(invocation.rule)"])
            settlement?.end(PoolStopped())
            return false
        }
        let perKind = metrics.forKind(invocation.action.kind)
        let started = monotonicNanos()
        let start: Started?
        do {
            start = try executor.startInline(invocation)
        } catch {
            finished(invocation, perKind, started, error: error)
            settlement?.end(error)
            return true
        }
        switch start {
        case .done?:
            finished(invocation, perKind, started, error: nil)
            settlement?.end()
            return true
        case .pending(let completion)?:
            // Bounded: when this many are still finishing, the submitter (ingest) waits.
            submittersWaiting.add(1, ordering: .relaxed)
            await pipeline.acquire()
            submittersWaiting.subtract(1, ordering: .relaxed)
            Task {
                defer { pipeline.release() }
                do {
                    try await completion()
                    finished(invocation, perKind, started, error: nil)
                    settlement?.end()
                } catch {
                    finished(invocation, perKind, started, error: error)
                    settlement?.end(error)
                }
            }
            return true
        case nil:
            break
        }
        var queued = invocation
        queued.settlement = nil
        if let journal, case .call = invocation.action, invocation.journalID == nil {
            // Settled once journaled: from then on a crash resumes it instead of losing it.
            queued.journalID = journal.record(queued) { error in settlement?.end(error.map { StoreWriteFailed(reason: "\($0)") }) }
        } else {
            settlement?.end()
        }
        if fromWorker {
            queue.forceSend(queued)
            return true
        }
        submittersWaiting.add(1, ordering: .relaxed)
        let accepted = await queue.send(queued)
        submittersWaiting.subtract(1, ordering: .relaxed)
        if !accepted {
            metrics.rejected.increment()
            logger.error(
                "function pool is shutting down; invocation not run now",
                metadata: ["rule": "\(invocation.rule)", "journaled": "\(queued.journalID != nil)"])
        }
        return accepted
    }

    /// Queues invocations read back from the journal at start (they keep their journal ids and
    /// attempts), without waiting for room.
    public func resume(_ invocations: [Invocation]) {
        for invocation in invocations { queue.forceSend(invocation) }
    }

    /// Runs the workers until `finish()` has been called and the queue is drained.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<configuration.maxConcurrency {
                group.addTask { await self.work() }
            }
        }
        // Started actions still finishing (forwards waiting for their fsync) are part of the drain.
        await pipeline.waitUntilIdle()
    }

    /// Stops accepting work; `run()` returns after what is queued has run. Invocations waiting
    /// for a retry run their next attempt now instead of waiting out the backoff.
    public func finish() {
        guard !draining.exchange(true, ordering: .sequentiallyConsistent) else { return }
        Task {
            await retrying.waitUntilIdle()
            queue.finish()
        }
    }

    /// Queues `invocation` again for its next attempt after `delay`, without holding a worker.
    private func retry(_ invocation: Invocation, after delay: Duration) async {
        var next = invocation
        next.attempt += 1
        let bytes = JSONWriter.bytes(.object(invocation.row)).count
        if retrying.held >= configuration.maxRetrying || retryingBytes.load(ordering: .relaxed) + bytes > configuration.maxRetryingBytes {
            await abandon(invocation)
            return
        }
        if let id = next.journalID { journal?.update(id, attempt: next.attempt) }
        retryingBytes.add(bytes, ordering: .relaxed)
        // Counted before `draining` is read: finish() closes the queue only once no retry is
        // counted, so either it sees this one, or this sees it draining.
        await retrying.acquire()
        if draining.load(ordering: .sequentiallyConsistent) {
            // Queued before this worker looks for more work, so a worker is there to take it.
            queue.forceSend(next)
            retryingBytes.subtract(bytes, ordering: .relaxed)
            retrying.release()
            return
        }
        let retry = next
        Task {
            // In slices, so that finish() sends it at once instead of waiting out the backoff.
            let deadline = ContinuousClock.now + delay
            while !self.draining.load(ordering: .relaxed), case let left = deadline - ContinuousClock.now, left > .zero {
                try? await Task.sleep(for: min(left, .milliseconds(50)))
            }
            self.queue.forceSend(retry)
            self.retryingBytes.subtract(bytes, ordering: .relaxed)
            self.retrying.release()
        }
    }

    /// Past the pending-retry bound: the invocation becomes a dead letter now.
    private func abandon(_ invocation: Invocation) async {
        metrics.retriesRefused.increment()
        let perKind = metrics.forKind(invocation.action.kind)
        let reason = "retry refused: \(configuration.maxRetrying) retries or \(configuration.maxRetryingBytes) bytes already pending"
        do {
            try await executor.abandon(invocation, reason: reason)
            finished(invocation, perKind, monotonicNanos(), error: RetryRefused(reason: reason))
        } catch {
            // Not stored: it stays journaled, and runs again at the next start.
            logger.error("dead letter could not be stored; the invocation stays journaled", metadata: ["rule": "\(invocation.rule)"])
            finished(invocation, perKind, monotonicNanos(), error: StoreWriteFailed(reason: "\(error)"))
        }
    }

    /// Invocations waiting out a retry backoff.
    public var waitingForRetry: Int { retrying.held }

    /// Invocations waiting for a worker.
    public var queued: Int { queue.count }

    /// The most invocations ever seen running at once.
    public var peakConcurrency: Int { peakInFlight.load(ordering: .relaxed) }

    private func work() async {
        while let invocation = await queue.next() {
            metrics.queueDepth.record(queue.count)
            let running = inFlight.add(1, ordering: .relaxed).newValue
            peakInFlight.raise(to: running)
            metrics.inFlight.record(running)
            let started = monotonicNanos()
            let kind = invocation.action.kind
            // One lookup per invocation: the per-kind metrics sit behind a lock.
            let perKind = metrics.forKind(kind)
            do {
                try await executor.execute(invocation)
                finished(invocation, perKind, started, error: nil)
            } catch let later as RetryLater {
                await retry(invocation, after: later.delay)
            } catch {
                finished(invocation, perKind, started, error: error)
            }
            metrics.inFlight.record(inFlight.subtract(1, ordering: .relaxed).newValue)
        }
    }

    /// Books a completed (or failed) action: counters, duration, latency, log, callback.
    private func finished(_ invocation: Invocation, _ perKind: PoolMetrics.PerKind, _ started: UInt64, error: (any Error)?) {
        let settled = !(error is any UnsettledError)
        if !settled {
            // Not a failure of the action: the store is refusing writes (reported once by the
            // store and the ingest loop, not once per event), and the event comes again.
            metrics.unsettled.increment()
        } else if let error {
            let refusedTopic = (error as? Template.RenderError)?.refusedTopic == true
            (refusedTopic ? perKind.refusedTopic : perKind.failed).increment()
            // Per rule and action kind at most one line per 5 s: a device sending values that
            // every event fails on must not flood the journal (the metric counts them all).
            let key = invocation.rule + "\u{0}" + invocation.action.kind
            let suppressed = failureLog.suppressed(key)
            if failureLog.allow(key) {
                logger.warning(
                    refusedTopic ? "action failed: topic refused" : "action failed",
                    metadata: [
                        "rule": "\(invocation.rule)", "action": "\(invocation.action.kind)", "error": "\(error)",
                        "suppressed": "\(suppressed)",
                    ])
            }
        } else {
            perKind.run.increment()
        }
        invocation.onCompletion?(settled)
        // Settled (ran, or dead-lettered): the journal lets it go. Not when the store refused
        // its dead letter: then it runs again at the next start.
        if let id = invocation.journalID, settled { journal?.remove(id) }
        let end = monotonicNanos()
        perKind.duration.recordNanoseconds(Int64(end - started))
        metrics.latency.recordNanoseconds(Int64(end &- invocation.ingestNanos))
    }
}

/// A failure that could not wait for its retry and was dead-lettered.
struct RetryRefused: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

extension Atomic where Value == Int {
    /// Stores `value` if it is larger than the current value.
    fileprivate func raise(to value: Int) {
        var current = load(ordering: .relaxed)
        while value > current {
            let (exchanged, original) = compareExchange(expected: current, desired: value, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
