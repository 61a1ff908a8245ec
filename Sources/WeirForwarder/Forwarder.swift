import Logging
import Metrics
import WeirCore
import WeirStore
import WeirZstd

/// Where a forwarder's batches go (an MQTT or HTTP upstream). Returns once the upstream
/// acknowledged the batch; throws to have it retried.
public protocol BatchSender: Sendable {
    func send(_ payload: [UInt8]) async throws
}

/// How a forwarder batches and encodes.
public struct ForwarderConfiguration: Sendable {
    public var maxEvents = 500
    public var maxBytes = 256 * 1024
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
    let io: BlockingExecutor
    let sent: Counter
    let failures: Counter
    let bytesOut: Counter
    let depth: Gauge

    public init(
        name: String, outbox: Outbox, sender: any BatchSender, configuration: ForwarderConfiguration, gatewayID: String,
        logger: Logger, metricsFactory: any MetricsFactory
    ) {
        self.name = name
        self.outbox = outbox
        self.sender = sender
        self.configuration = configuration
        self.gatewayID = gatewayID
        self.logger = logger
        io = BlockingExecutor(label: "weir-forwarder-\(name)")
        sent = Counter(label: "weir_forwarded_events_total", dimensions: [("upstream", name)], factory: metricsFactory)
        failures = Counter(label: "weir_forward_failures_total", dimensions: [("upstream", name)], factory: metricsFactory)
        bytesOut = Counter(label: "weir_forwarded_bytes_total", dimensions: [("upstream", name)], factory: metricsFactory)
        depth = Gauge(label: "weir_outbox_depth", dimensions: [("upstream", name)], factory: metricsFactory)
    }

    /// Forwards until the task is cancelled or `isStopping` turns true between batches.
    public func run(isStopping: @escaping @Sendable () -> Bool) async {
        var backoff = configuration.retryInitial
        while !Task.isCancelled && !isStopping() {
            depth.record(Int(outbox.depth))
            do {
                let outbox = self.outbox
                let limits = (configuration.maxEvents, configuration.maxBytes)
                var batch = try await io.run { try outbox.peek(maxRecords: limits.0, maxBytes: limits.1) }
                if batch.isEmpty {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                if batch.count < configuration.maxEvents {
                    // Let a partial batch fill for up to max_delay: fewer, larger, better-compressed uploads.
                    try await Task.sleep(for: configuration.maxDelay)
                    batch = try await io.run { try outbox.peek(maxRecords: limits.0, maxBytes: limits.1) }
                }
                let payload = try encode(batch)
                try await sender.send(payload)
                let last = batch[batch.count - 1].sequence
                try await io.run { try outbox.acknowledge(through: last) }
                sent.increment(by: batch.count)
                bytesOut.increment(by: payload.count)
                backoff = configuration.retryInitial
            } catch is CancellationError {
                return
            } catch {
                failures.increment()
                let jittered = backoff * Double.random(in: 0.5...1.0)
                logger.warning("forwarding failed; retrying", metadata: ["upstream": "\(name)", "error": "\(error)", "retry_in": "\(jittered)"])
                try? await Task.sleep(for: jittered)
                backoff = min(backoff * 2, configuration.retryMax)
            }
        }
    }

    func encode(_ batch: [(sequence: UInt64, record: [UInt8])]) throws -> [UInt8] {
        var records: [(sequence: UInt64, record: OutboxRecord)] = []
        for entry in batch {
            do {
                records.append((entry.sequence, try OutboxRecord(decoding: entry.record)))
            } catch {
                logger.error("unreadable outbox record skipped", metadata: ["upstream": "\(name)", "sequence": "\(entry.sequence)"])
            }
        }
        let json = CloudEvents.batch(records, gatewayID: gatewayID)
        return configuration.compression ? try Zstd.compress(json) : json
    }
}
