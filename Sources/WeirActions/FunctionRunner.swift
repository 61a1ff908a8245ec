import AsyncHTTPClient
import Dispatch
import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRules

/// A function invocation that failed its last attempt, for the dead-letter store.
public struct FunctionFailure: Sendable {
    /// `function` for a failed invocation (replayable), `emit` for output that could not become an event.
    public var kind: DeadLetterKind = .function
    public var function: String
    public var rule: String
    public var row: JSONObject
    public var error: String
    public var attempts: Int
}

/// Runs `call:` actions: each function's own concurrency bound (inside the pool's global one),
/// retries with exponential backoff and jitter, and after the last attempt a dead letter with the
/// input, the error and the attempts.
public final class FunctionRunner: Sendable {
    let lookup: @Sendable (String) -> FunctionSpec?
    let logger: Logger
    let factory: any MetricsFactory
    let deadLetter: @Sendable (FunctionFailure) async throws -> Void
    /// Routes an emitted event; false when it was refused (the pool is overloaded with emitted
    /// work); throws an `UnsettledError` when what it triggered could not be made durable.
    let emit: @Sendable (Event) async throws -> Bool
    let maxHops: Int
    /// Per function: its concurrency permits (new ones when its concurrency changes).
    private let permitsByFunction = Mutex<[String: (concurrency: Int, permits: AsyncSemaphore)]>([:])
    /// Per function: its metrics, made once (metric handles sit behind the factory's lock;
    /// making ten per invocation would be work on every call) and kept across reloads.
    let metricsByFunction = MetricHandles<String, FunctionMetrics>()
    /// One line per function per 10 s for output past the exec bound (the metric counts them all).
    let truncationLog = SharedLogThrottle(interval: .seconds(10))
    /// The processes of `mode: worker` functions, by function name.
    let workerGroups = Mutex<[String: WorkerGroup]>([:])
    /// Extra environment every exec function gets (`WEIR_STATE_DIR`).
    let baseEnvironment: [String: String]
    /// Redirects are not followed: a redirected POST can become a GET whose 2xx would count as
    /// success with the row lost, and the function's headers (API keys) would go to the new origin.
    /// A 3xx is a failure, like any status but 2xx.
    let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
    /// Threads that wait on processes and pipes.
    let blocking: BlockingThreads

    /// - Parameters:
    ///   - lookup: the function's current definition (rules reload).
    ///   - deadLetter: stores an invocation that failed its last attempt.
    ///   - maxHops: how many functions in a row an event may pass through (`emit` chains).
    ///   - emit: hands an event that a function with `emit` printed back to the rules.
    ///   - stateDirectory: a writable directory exec functions find in `WEIR_STATE_DIR`.
    ///   - blockingThreads: threads waiting on worker processes at most (exec functions hold none; the pool's concurrency is enough).
    public init(
        lookup: @escaping @Sendable (String) -> FunctionSpec?, logger: Logger, metricsFactory: any MetricsFactory,
        deadLetter: @escaping @Sendable (FunctionFailure) async throws -> Void, maxHops: Int = 8,
        emit: @escaping @Sendable (Event) async throws -> Bool = { _ in true }, stateDirectory: String? = nil, blockingThreads: Int = 64
    ) {
        blocking = BlockingThreads(limit: blockingThreads, name: "weir-fn")
        baseEnvironment = stateDirectory.map { ["WEIR_STATE_DIR": $0] } ?? [:]
        self.emit = emit
        self.maxHops = maxHops
        self.lookup = lookup
        self.logger = logger
        self.factory = metricsFactory
        self.deadLetter = deadLetter
    }

    /// Runs one attempt of `function` for the invocation's row and returns the JSON values it
    /// produced. A failure with attempts left throws `RetryLater` (the pool runs the invocation
    /// again after the backoff, holding no worker or permit meanwhile); after the last attempt
    /// the invocation is dead-lettered and the error thrown.
    @discardableResult
    public func call(_ function: String, _ invocation: Invocation) async throws -> [JSONValue] {
        guard let declared = lookup(function) else {
            // Removed from the rules (a journaled invocation resumed after a change, say): its
            // event was acknowledged, so it becomes a dead letter rather than disappearing.
            let error = FunctionError(function: function, message: "no such function (removed from the rules?)")
            let letter = FunctionFailure(
                function: function, rule: invocation.rule, row: invocation.row, error: error.message, attempts: invocation.attempt)
            try await storeDeadLetter(letter)
            throw error
        }
        let (permits, metrics) = bound(declared)
        if permits.held >= permits.limit { metrics.queued.record(permits.waiting + 1) }
        await permits.acquire()
        // The rules may have been reloaded while it waited: run what is defined now.
        let spec = lookup(function) ?? declared
        metrics.queued.record(permits.waiting)
        metrics.inFlight.record(permits.held)
        let started = monotonicNanos()
        let result = await runOnce(spec, invocation)
        metrics.duration.recordNanoseconds(Int64(monotonicNanos() - started))
        permits.release()
        metrics.inFlight.record(permits.held)
        metrics.invocations.increment()
        switch result {
        case .success(let outputs):
            if let topic = spec.emit { try await emitEvents(outputs, topic: topic, spec: spec, invocation: invocation, metrics: metrics) }
            return outputs
        case .failure(let error):
            metrics.failures.increment()
            let attempt = invocation.attempt
            guard attempt < spec.retry.attempts else {
                logger.error(
                    "function failed its last attempt; dead-lettered",
                    metadata: [
                        "function": "\(spec.name)", "rule": "\(invocation.rule)", "attempts": "\(attempt)", "error": "\(error.message)",
                    ])
                try await storeDeadLetter(
                    FunctionFailure(
                        function: spec.name, rule: invocation.rule, row: invocation.row, error: error.message, attempts: attempt))
                // Counted once stored, so whoever sees the count finds the letter.
                metrics.deadLetters.increment()
                throw error
            }
            let delay = spec.retry.delay(after: attempt)
            metrics.retries.increment()
            logger.warning(
                "function failed; retrying",
                metadata: ["function": "\(spec.name)", "attempt": "\(attempt)", "retry_in": "\(delay)", "error": "\(error.message)"])
            throw RetryLater(delay: delay, error: error)
        }
    }

    /// Each printed value becomes an event on the `emit` topic, one hop further than the event
    /// behind the invocation. Past `maxHops` the chain stops there, counted and logged: a loop of
    /// rules and functions cannot run forever.
    private func emitEvents(
        _ outputs: [JSONValue], topic: Template, spec: FunctionSpec, invocation: Invocation, metrics: FunctionMetrics
    ) async throws {
        let hops = invocation.hops + 1
        for output in outputs {
            guard hops <= maxHops else {
                metrics.chainStopped.increment()
                logger.warning(
                    "emitted event stopped: too many function hops (a loop of rules and functions?)",
                    metadata: ["function": "\(spec.name)", "rule": "\(invocation.rule)", "hops": "\(hops)", "max_hops": "\(maxHops)"])
                continue
            }
            let fields: JSONObject
            if case .object(let object) = output { fields = object } else { fields = [:] }
            do {
                let rendered = try topic.renderTopic(fields)
                guard try await emit(Event(topic: rendered, payload: JSONWriter.bytes(output), receivedAt: currentTimeMillis(), hops: hops))
                else {
                    throw FunctionError(
                        function: spec.name,
                        message: "refused: the pool holds more than max(2 x max_queued, 10000) invocations (runaway fan-out?)")
                }
                metrics.emitted.increment()
            } catch let unsettled as any UnsettledError {
                // The store refused what the output triggered: the invocation stays journaled
                // and runs again (at the next start) rather than losing its output.
                throw unsettled
            } catch {
                // The function ran (its side effects happened): its output is kept, not re-run.
                logger.error("emitted value not routed; dead-lettered", metadata: ["function": "\(spec.name)", "error": "\(error)"])
                let row: JSONObject = ["output": output, "input": .object(invocation.row)]
                try await storeDeadLetter(
                    FunctionFailure(
                        kind: .emit, function: spec.name, rule: invocation.rule, row: row, error: "emit: \(error)", attempts: 1))
                metrics.deadLetters.increment()
            }
        }
    }

    /// Dead-letters an invocation that could not wait for its retry (the pool's bound).
    public func abandon(_ function: String, _ invocation: Invocation, reason: String) async throws {
        logger.error(
            "function retry refused; dead-lettered",
            metadata: ["function": "\(function)", "rule": "\(invocation.rule)", "reason": "\(reason)"])
        try await storeDeadLetter(
            FunctionFailure(function: function, rule: invocation.rule, row: invocation.row, error: reason, attempts: invocation.attempt))
        metricsByFunction.existing(function)?.deadLetters.increment()
    }

    /// Stores a letter; a store that refuses it makes the invocation unsettled, so it stays in
    /// the journal and runs again rather than being lost.
    private func storeDeadLetter(_ failure: FunctionFailure) async throws {
        do {
            try await deadLetter(failure)
        } catch {
            logger.error("dead letter could not be stored", metadata: ["function": "\(failure.function)", "error": "\(error)"])
            throw StoreWriteFailed(reason: "dead letter: \(error)")
        }
    }

    /// The function's permits (new ones when its concurrency changed) and metrics.
    private func bound(_ spec: FunctionSpec) -> (AsyncSemaphore, FunctionMetrics) {
        let permits = permitsByFunction.withLock { table in
            if let existing = table[spec.name], existing.concurrency == spec.concurrency { return existing.permits }
            let permits = AsyncSemaphore(limit: spec.concurrency)
            table[spec.name] = (spec.concurrency, permits)
            return permits
        }
        return (permits, metricsByFunction.handles(for: spec.name) { [factory] in FunctionMetrics(function: $0, factory: factory) })
    }

    /// Each stderr line goes to the log under the function's name (at most 20 per invocation).
    func logStderr(_ function: String, _ bytes: [UInt8]) {
        for line in bytes.split(separator: 0x0A).prefix(20) {
            logger.notice(
                "\(String(decoding: line.prefix(500), as: UTF8.self))", metadata: ["function": "\(function)", "stream": "stderr"])
        }
    }
}

/// A function invocation failed (one attempt, or the last one).
public struct FunctionError: Error, Sendable, CustomStringConvertible {
    public var function: String
    public var message: String
    public var description: String { "function '\(function)': \(message)" }
}

struct FunctionMetrics {
    let invocations: Counter
    let failures: Counter
    let retries: Counter
    let deadLetters: Counter
    let duration: Metrics.Timer
    let inFlight: Gauge
    let queued: Gauge
    let emitted: Counter
    let chainStopped: Counter
    let outputTruncated: Counter

    init(function: String, factory: any MetricsFactory) {
        let dimensions = [("function", function)]
        invocations = Counter(label: "weir_function_invocations_total", dimensions: dimensions, factory: factory)
        failures = Counter(label: "weir_function_failures_total", dimensions: dimensions, factory: factory)
        retries = Counter(label: "weir_function_retries_total", dimensions: dimensions, factory: factory)
        deadLetters = Counter(label: "weir_function_dead_letters_total", dimensions: dimensions, factory: factory)
        duration = Metrics.Timer(label: "weir_function_duration_seconds", dimensions: dimensions, factory: factory)
        inFlight = Gauge(label: "weir_function_in_flight", dimensions: dimensions, factory: factory)
        queued = Gauge(label: "weir_function_queued", dimensions: dimensions, factory: factory)
        emitted = Counter(label: "weir_function_emitted_total", dimensions: dimensions, factory: factory)
        chainStopped = Counter(label: "weir_function_chain_stopped_total", dimensions: dimensions, factory: factory)
        outputTruncated = Counter(label: "weir_function_output_truncated_total", dimensions: dimensions, factory: factory)
    }
}
