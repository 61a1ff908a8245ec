import Foundation
import Logging
import MetricsTestKit
import Synchronization
import WeirCore
import WeirRocksDB
import WeirStore
import WeirTestSupport
import WeirZstd

@testable import WeirForwarder

/// A transient upstream failure (anything but `BatchRejected` is retried).
struct TransientFailure: Error {}

/// A `BatchSender` that records every payload it is given and answers from a script: each call
/// takes the next outcome, and once the script is used up every send succeeds.
final class FakeSender: BatchSender {
    enum Outcome: Sendable {
        case succeed
        /// Throws `TransientFailure`.
        case fail
        /// Throws `BatchRejected`.
        case reject
        /// Waits until `release(_:)`, ignoring cancellation, like an upstream waiting for its ack
        /// (only `Upstream.shutdown` fails it).
        case hang
        /// Waits until `release(_:)` or until the calling task is cancelled (then throws `CancellationError`).
        case hangCancellable
        /// Throws `UpstreamUnavailable`; `waitUntilAvailable` then waits for `makeAvailable()`.
        case unavailable
    }

    struct Attempt: Sendable {
        var payload: [UInt8]
        var at: ContinuousClock.Instant
        /// What `observe` returned when the send began (the outbox depth, say).
        var observed: UInt64
    }

    private struct State {
        var script: [Outcome]
        var attempts: [Attempt] = []
        var delivered: [[UInt8]] = []
        var hung: CheckedContinuation<Void, any Error>?
        /// After `shutdown()`: a send that would hang fails at once.
        var closed = false
        var available = AsyncLatch<Void>()
        var availabilityWaits = 0
    }

    private let state: Mutex<State>
    private let observe: @Sendable () -> UInt64

    init(_ script: [Outcome] = [], observe: @escaping @Sendable () -> UInt64 = { 0 }) {
        state = Mutex(State(script: script))
        self.observe = observe
    }

    func send(_ payload: [UInt8]) async throws {
        let observed = observe()
        let outcome = state.withLock { s in
            s.attempts.append(Attempt(payload: payload, at: .now, observed: observed))
            return s.script.isEmpty ? Outcome.succeed : s.script.removeFirst()
        }
        switch outcome {
        case .succeed: break
        case .fail: throw TransientFailure()
        case .reject: throw BatchRejected(reason: "schema mismatch")
        case .hang: try await withCheckedThrowingContinuation { hang($0) }
        case .hangCancellable: try await waitForRelease()
        case .unavailable: throw UpstreamUnavailable()
        }
        state.withLock { $0.delivered.append(payload) }
    }

    private func waitForRelease() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                hang(continuation)
                if Task.isCancelled { release(.failure(CancellationError())) }
            }
        } onCancel: {
            release(.failure(CancellationError()))
        }
    }

    private func hang(_ continuation: CheckedContinuation<Void, any Error>) {
        let closed = state.withLock { s in
            if !s.closed { s.hung = continuation }
            return s.closed
        }
        if closed { continuation.resume(throwing: TransientFailure()) }
    }

    /// Fails a hanging send, and any later one, as `Upstream.shutdown` does.
    func shutdown() {
        state.withLock { $0.closed = true }
        release(.failure(TransientFailure()))
    }

    /// Ends the send that is hanging, if any, with `result`.
    func release(_ result: Result<Void, any Error>) {
        state.withLock { s in
            defer { s.hung = nil }
            return s.hung
        }?.resume(with: result)
    }

    func waitUntilAvailable(timeout: Duration) async {
        let available = state.withLock { s in
            s.availabilityWaits += 1
            return s.available
        }
        await available.wait(timeout: timeout)
    }

    /// Ends the current `waitUntilAvailable`, as an upstream connecting again does.
    func makeAvailable() { state.withLock { $0.available }.complete(.success(())) }

    var availabilityWaits: Int { state.withLock { $0.availabilityWaits } }
    var attempts: [Attempt] { state.withLock { $0.attempts } }
    /// Payloads whose send returned normally.
    var delivered: [[UInt8]] { state.withLock { $0.delivered } }
    var isHanging: Bool { state.withLock { $0.hung != nil } }
}

/// A forwarder named "cloud" for gateway "gw" over a real outbox and dead letters on a fresh
/// RocksDB in a temporary directory, with test metrics.
final class Harness: Sendable {
    static let upstream = "cloud"
    static let gateway = "gw"

    let directory: URL
    let db: RocksDB
    let outbox: Outbox
    let deadLetters: DeadLetters
    let metrics = TestMetrics()
    let configuration: ForwarderConfiguration
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let sender = Mutex<FakeSender?>(nil)

    init(_ configuration: ForwarderConfiguration) throws {
        self.configuration = configuration
        directory = try makeTemporaryDirectory(prefix: "weir-forwarder")
        db = try RocksDB(path: directory.path)
        outbox = try Outbox(db: db, name: Self.upstream, metricsFactory: metrics)
        deadLetters = try DeadLetters(db: db, metricsFactory: metrics)
    }

    /// Starts `run` on `sender` in a task of its own.
    func start(_ sender: FakeSender) {
        var logger = Logger(label: "weir.forwarder.test")
        logger.logLevel = .critical  // the failures these tests provoke are expected
        let forwarder = Forwarder(
            name: Self.upstream, outbox: outbox, sender: sender, deadLetters: deadLetters, configuration: configuration,
            gatewayID: Self.gateway, logger: logger, metricsFactory: metrics)
        stopping.store(false, ordering: .relaxed)
        self.sender.withLock { $0 = sender }
        let running = Task { await forwarder.run(isStopping: { [self] in stopping.load(ordering: .relaxed) }) }
        task.withLock { $0 = running }
    }

    /// Makes `isStopping` return true.
    func requestStop() { stopping.store(true, ordering: .relaxed) }

    /// Cancels the task running the forwarder.
    func cancel() { task.withLock { $0 }?.cancel() }

    /// Waits (bounded) for `run` to return; false if it did not.
    func stopped() async -> Bool {
        guard let running = task.withLock({ $0 }) else { return true }
        let finished = Finished()
        Task {
            await running.value
            finished.flag.store(true, ordering: .relaxed)
        }
        return await until { finished.flag.load(ordering: .relaxed) }
    }

    /// Cancels the forwarder, closes the store and deletes the directory.
    func finish() async {
        let running = task.withLock { $0 }
        running?.cancel()
        sender.withLock { $0 }?.shutdown()
        await running?.value
        outbox.close()
        db.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Appends `count` rows numbered from `first`, in order; returns their sequences.
    @discardableResult
    func append(_ first: Int, count: Int) async throws -> [UInt64] {
        var sequences: [UInt64] = []
        for n in first..<(first + count) { sequences.append(try await outbox.append(row(n).encoded())) }
        return sequences
    }

    func counter(_ label: String) -> Int64 { metrics.counterTotal(label: label, dimensions: [("upstream", Self.upstream)]) }
    var depthGauge: Double? { try? metrics.expectGauge("weir_outbox_depth", [("upstream", Self.upstream)]).lastValue }
}

private final class Finished: Sendable {
    let flag = Atomic<Bool>(false)
}

/// Runs `body` on a fresh harness and always tears it down.
func withHarness(_ configuration: ForwarderConfiguration, _ body: (Harness) async throws -> Void) async throws {
    let harness = try Harness(configuration)
    do {
        try await body(harness)
    } catch {
        await harness.finish()
        throw error
    }
    await harness.finish()
}

/// A configuration with short delays and backoff, so tests wait on conditions rather than timers.
func configuration(
    maxEvents: Int = 100, maxBytes: Int = 1 << 20, maxDelay: Duration = .milliseconds(10), compression: Bool = true,
    retryInitial: Duration = .milliseconds(5), retryMax: Duration = .milliseconds(20)
) -> ForwarderConfiguration {
    var c = ForwarderConfiguration()
    c.maxEvents = maxEvents
    c.maxBytes = maxBytes
    c.maxDelay = maxDelay
    c.compression = compression
    c.retryInitial = retryInitial
    c.retryMax = retryMax
    return c
}

/// Row `n` (rows with one-digit numbers all have the same stored size).
func row(_ n: Int) -> OutboxRecord {
    OutboxRecord(
        rule: "overheat", topic: "sensors/\(n)/temp", time: 1_700_000_000_000 + Int64(n),
        data: ["n": .int(Int64(n)), "unit": "celsius", "ok": false])
}

/// The CloudEvents of one payload (decompressed first when `compressed`).
func events(_ payload: [UInt8], compressed: Bool = true) throws -> [JSONValue] {
    let json = compressed ? try Zstd.decompress(payload, maxSize: 16 << 20) : payload
    guard case .array(let events) = try JSONParser.parse(json) else { throw NotABatch() }
    return events
}

/// The CloudEvents ids of one payload.
func ids(_ payload: [UInt8], compressed: Bool = true) throws -> [String] {
    try events(payload, compressed: compressed).map { $0["id"]?.stringValue ?? "?" }
}

/// The ids rows `range` get (sequences and row numbers coincide when rows are appended from 1).
func ids(_ range: ClosedRange<Int>) -> [String] { range.map { "\(Harness.gateway)-\($0)" } }

struct NotABatch: Error {}

/// Waits (bounded, generously for a loaded machine) until `condition` holds; false if it never did.
func until(_ condition: () async throws -> Bool) async rethrows -> Bool {
    try await eventually(timeout: .seconds(30), condition)
}
