import Logging
import Metrics
import Synchronization
import WeirCore

/// A bounded concurrent pool that runs invocations.
///
/// At most `maxConcurrency` invocations run at once and at most `maxQueued` wait. `submit` suspends
/// while the queue is full, which stops the ingest loop, which stops libmosquitto reading: pressure
/// travels back to the broker instead of anything being dropped.
public final class FunctionPool: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var maxConcurrency: Int
        public var maxQueued: Int

        public init(maxConcurrency: Int = 8, maxQueued: Int = 10_000) {
            self.maxConcurrency = maxConcurrency
            self.maxQueued = maxQueued
        }
    }

    public let configuration: Configuration
    private let queue: BoundedQueue<Invocation>
    private let executor: any ActionExecutor
    private let logger: Logger
    private let metrics: PoolMetrics
    private let inFlight = Atomic<Int>(0)
    private let peakInFlight = Atomic<Int>(0)

    public init(configuration: Configuration, executor: any ActionExecutor, logger: Logger, metricsFactory: any MetricsFactory) {
        self.configuration = configuration
        self.queue = BoundedQueue(capacity: configuration.maxQueued)
        self.executor = executor
        self.logger = logger
        self.metrics = PoolMetrics(factory: metricsFactory)
    }

    /// Queues an invocation, waiting for room. Returns `false` once the pool is shutting down.
    @discardableResult
    public func submit(_ invocation: Invocation) async -> Bool {
        let accepted = await queue.send(invocation)
        if !accepted {
            metrics.rejected.increment()
            logger.error("function pool is shutting down; invocation not run", metadata: ["rule": "\(invocation.rule)"])
        }
        return accepted
    }

    /// Runs the workers until `finish()` has been called and the queue is drained.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<configuration.maxConcurrency {
                group.addTask { await self.work() }
            }
        }
    }

    /// Stops accepting work; `run()` returns after what is queued has run.
    public func finish() {
        queue.finish()
    }

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
                perKind.run.increment()
                invocation.onCompletion?(true)
            } catch {
                invocation.onCompletion?(false)
                perKind.failed.increment()
                logger.warning(
                    "action failed",
                    metadata: ["rule": "\(invocation.rule)", "action": "\(kind)", "error": "\(error)"])
            }
            let finished = monotonicNanos()
            perKind.duration.recordNanoseconds(Int64(finished - started))
            metrics.latency.recordNanoseconds(Int64(finished &- invocation.ingestNanos))
            metrics.inFlight.record(inFlight.subtract(1, ordering: .relaxed).newValue)
        }
    }
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
