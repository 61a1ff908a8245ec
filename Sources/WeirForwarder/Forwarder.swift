import Logging
import Metrics
import WeirCore
import WeirStore
import WeirZstd

/// Where a forwarder's batches go (an MQTT or HTTP upstream). Returns once the upstream
/// acknowledged the batch; throws `BatchRejected` when the upstream refused it for good (it goes to
/// dead letters), any other error to have it retried.
public protocol BatchSender: Sendable {
    func send(_ payload: [UInt8]) async throws
    /// After a send failed with `UpstreamUnavailable`: returns when the upstream can take a batch
    /// again, or after `timeout` at the latest (the retry backoff). The default waits the timeout.
    func waitUntilAvailable(timeout: Duration) async
}

extension BatchSender {
    public func waitUntilAvailable(timeout: Duration) async {
        try? await Task.sleep(for: timeout)
    }
}

/// An upstream connection with a lifecycle: `start` before the first send, `shutdown` fails a
/// send in flight so the forwarder can stop (the batch stays queued).
public protocol Upstream: BatchSender {
    func start()
    func shutdown() async
}

/// The upstream refused a batch in a way retrying cannot fix (an HTTP 4xx): it is dead-lettered.
public struct BatchRejected: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "upstream rejected the batch: \(reason)" }
}

/// How a forwarder batches and encodes.
public struct ForwarderConfiguration: Sendable {
    public var maxEvents = 500
    public var maxBytes = 256 * 1024
    /// When set, no payload sent is larger (MQTT upstreams: `batch.max_bytes`, as the broker's
    /// message size limit counts it, after encoding and compression): a batch that encodes larger
    /// is sent in fewer rows, and a row that alone encodes larger is dead-lettered.
    public var maxPayloadBytes: Int?
    public var maxDelay: Duration = .seconds(1)
    public var compression = true
    public var retryInitial: Duration = .milliseconds(500)
    public var retryMax: Duration = .seconds(30)

    public init() {}
}

/// Reads one upstream's outbox in order, sends CloudEvents batches and deletes them only after the
/// upstream acknowledged: at-least-once, in order. Failures back off exponentially with jitter.
public final class Forwarder: Sendable {
    public let name: String
    let outbox: Outbox
    let sender: any BatchSender
    let configuration: ForwarderConfiguration
    let gatewayID: String
    let logger: Logger
    let io: BlockingThreads
    let sent: Counter
    let failures: Counter
    let bytesOut: Counter
    let deadLetters: DeadLetters
    let deadLettered: Counter
    let writer: CloudEventsBatchWriter

    public init(
        name: String, outbox: Outbox, sender: any BatchSender, deadLetters: DeadLetters, configuration: ForwarderConfiguration,
        gatewayID: String, logger: Logger, metricsFactory: any MetricsFactory
    ) {
        self.deadLetters = deadLetters
        self.name = name
        self.outbox = outbox
        self.sender = sender
        self.configuration = configuration
        self.gatewayID = gatewayID
        writer = CloudEventsBatchWriter(gatewayID: gatewayID)
        self.logger = logger
        io = BlockingThreads.serial(name: "weir-forwarder-\(name)")
        sent = Counter(label: "weir_forwarded_events_total", dimensions: [("upstream", name)], factory: metricsFactory)
        failures = Counter(label: "weir_forward_failures_total", dimensions: [("upstream", name)], factory: metricsFactory)
        bytesOut = Counter(label: "weir_forwarded_bytes_total", dimensions: [("upstream", name)], factory: metricsFactory)
        deadLettered = Counter(label: "weir_dead_letters_total", dimensions: [("upstream", name)], factory: metricsFactory)
    }

    /// Forwards until the task is cancelled, or until `isStopping` turns true between batches.
    /// Idle, the forwarder waits for the outbox's committer to wake it; `isStopping`, a plain
    /// function, is then looked at every 100 ms (without it, nothing runs until a row comes).
    public func run(isStopping: (@Sendable () -> Bool)? = nil) async {
        var backoff = configuration.retryInitial
        var attempts = 0
        // Unreadable entries up to here are in dead letters already: a retried batch must not add them again.
        var letteredThrough: [OutboxPriority: UInt64] = [:]
        while !Task.isCancelled && !(isStopping?() ?? false) {
            do {
                var batch = try await read(after: nil, into: PendingBatch())
                if batch.entries.isEmpty {
                    try await idle(isStopping)
                    continue
                }
                if !batch.full && attempts == 0 {
                    // Let a partial batch fill for up to max_delay: fewer, larger, better-compressed uploads.
                    try await fill(&batch)
                }
                let last = batch.entries[batch.entries.count - 1].sequence
                let (rows, unreadable) = decode(batch.entries)
                let priority = batch.priority ?? .normal
                let fresh = unreadable.filter { $0.sequence > letteredThrough[priority, default: 0] }.map(\.json)
                if !fresh.isEmpty { try await deadLetter(fresh, kind: .record, error: "unreadable outbox record", attempts: 0) }
                letteredThrough[priority] = last
                var acknowledged = batch.entries
                if !rows.isEmpty {
                    attempts += 1
                    let (rows, payload) = try await encodeWithinLimit(rows, priority: priority)
                    if rows.count < acknowledged.count, let sentThrough = rows.last?.sequence {
                        // The rest stays queued for the next batch.
                        acknowledged = acknowledged.filter { $0.sequence <= sentThrough }
                    }
                    guard let payload else {
                        try await deadLetterOversized(rows[0])
                        try await outbox.acknowledge(acknowledged)
                        attempts = 0
                        continue
                    }
                    do {
                        try await sender.send(payload)
                        sent.increment(by: rows.count)
                        bytesOut.increment(by: payload.count)
                    } catch let rejected as BatchRejected {
                        logger.error(
                            "upstream rejected a batch; moved to dead letters",
                            metadata: ["upstream": "\(name)", "events": "\(rows.count)", "reason": "\(rejected.reason)"])
                        try await deadLetter(rows.map(Self.letterRow), kind: .upstream, error: rejected.description, attempts: attempts)
                    }
                }
                try await outbox.acknowledge(acknowledged)
                attempts = 0
                backoff = configuration.retryInitial
            } catch is CancellationError {
                return
            } catch {
                failures.increment()
                let jittered = backoff * Double.random(in: 0.5...1.0)
                logger.warning(
                    "forwarding failed; retrying", metadata: ["upstream": "\(name)", "error": "\(error)", "retry_in": "\(jittered)"])
                if error is UpstreamUnavailable {
                    // Down: retry as soon as it is back, not after up to `retry_max` of backoff.
                    await sender.waitUntilAvailable(timeout: jittered)
                } else {
                    try? await Task.sleep(for: jittered)
                }
                backoff = min(backoff * 2, configuration.retryMax)
            }
        }
    }

    func deadLetter(_ payload: [JSONValue], kind: DeadLetterKind, error: String, attempts: Int) async throws {
        let letter = DeadLetter(
            kind: kind, target: name, failedAt: currentTimeMillis(), error: error, attempts: attempts, payload: .array(payload))
        let deadLetters = self.deadLetters
        _ = try await io.run { try deadLetters.add(letter) }
        deadLettered.increment(by: payload.count)
    }
}
