import Logging
import ServiceLifecycle
import WeirActions
import WeirCore
import WeirEngine
import WeirMQTT

/// MQTT ingest and rule evaluation: events flow broker → bounded buffer → rules → pool.
///
/// libmosquitto's network thread copies each batch of messages into `buffer`, blocking while it is
/// full; this service's loop evaluates rules and submits invocations, suspending while the pool is
/// full. So a slow function slows the reader and, through TCP, the broker: nothing is dropped for
/// lack of room. With `ack: durable` each batch carries a `Settlement` that every effect of its
/// events joins; the network thread sends the batch's PUBACKs only once it completes.
public final class IngestService: Service, Sendable {
    struct Ingested: Sendable {
        let event: Event
        let settlement: Settlement?
        /// The batch's last event: its settlement is sealed once this one is routed.
        let closesBatch: Bool
    }

    /// The ingest buffer's byte bound (`mqtt.buffer_bytes`), beside its count bound: a few large
    /// payloads must not hold what a thousand small ones would.
    let bytes: ByteBudget
    /// The rule loop's sign of life for the progress watchdog; waiting for room in the pool is
    /// backpressure, not a stall.
    let progress: ProgressMark

    let client: MQTTClient
    let buffer: BoundedQueue<Ingested>
    let router: EventRouter
    let metrics: DaemonMetrics
    let readiness: Readiness
    let logger: Logger

    init(
        config: WeirConfig, password: String?, router: EventRouter, metrics: DaemonMetrics, readiness: Readiness,
        canConnect: (@Sendable () -> Bool)? = nil, logger: Logger
    ) throws {
        self.router = router
        let pool = router.pool
        progress = ProgressMark(name: "ingest", exempt: { pool.isApplyingBackpressure })
        let buffer = BoundedQueue<Ingested>(capacity: config.mqtt.buffer)
        let bytes = ByteBudget(capacity: config.mqtt.bufferBytes)
        var mqttConfig = MQTTConfiguration(
            host: config.mqtt.host, port: config.mqtt.port, clientID: config.effectiveClientID,
            username: config.mqtt.username, password: password, keepAliveSeconds: config.mqtt.keepAliveSeconds,
            cleanSession: config.mqtt.cleanSession, tls: config.mqtt.tls)
        // Checked before the payload is copied out of libmosquitto, not after.
        mqttConfig.maxPayloadBytes = config.mqtt.maxPayloadBytes
        mqttConfig.protocolVersion = config.mqtt.protocolVersion
        mqttConfig.sessionExpirySeconds = UInt32(clamping: config.mqtt.sessionExpiry.components.seconds)
        mqttConfig.receiveMaximum = config.mqtt.receiveMaximum
        mqttConfig.maximumPacketSize = config.mqtt.maximumPacketSize
        mqttConfig.shareGroup = config.mqtt.shareGroup
        let ingestLogger = logger
        let durable = config.mqtt.ack == .durable
        client = try MQTTClient(
            configuration: mqttConfig, subscribeQoS: config.mqtt.effectiveQoS, logger: logger,
            onBatch: { events in
                // The store failed since the loop last looked: route nothing into it. The batch is
                // not acknowledged, and the loop pauses until the store is writable again.
                if let canConnect, !canConnect() { return Settlement.refused(StoreWriteFailed(reason: "the store is not writable")) }
                // Blocks the network thread, like a full buffer, until the engine has routed enough.
                guard bytes.acquireBlocking(events.reduce(0) { $0 + $1.bufferedBytes }) else {
                    metrics.ingestDropped.increment(by: events.count)
                    return durable ? Settlement.refused(PoolStopped()) : nil
                }
                let settlement = durable ? Settlement() : nil
                let items = events.enumerated().map { index, event in
                    Ingested(event: event, settlement: settlement, closesBatch: index == events.count - 1)
                }
                let accepted = buffer.sendBlocking(contentsOf: items)
                if accepted < items.count {
                    // Only after shutdown began (the loop has stopped by then; defensive).
                    metrics.ingestDropped.increment(by: items.count - accepted)
                    ingestLogger.error(
                        "events arrived after ingest stopped; not acknowledged", metadata: ["events": "\(items.count - accepted)"])
                    return durable ? Settlement.refused(PoolStopped()) : nil
                }
                // Once per batch: while the engine is stalled these show the buffer full, by count or by bytes.
                metrics.ingestBuffered.record(buffer.count)
                metrics.ingestBufferedBytes.record(bytes.held)
                return settlement
            },
            maxBatch: min(1000, config.mqtt.buffer), maxBatchBytes: max(1, config.mqtt.bufferBytes / 4), canConnect: canConnect,
            onConnection: { change in
                switch change {
                case .connected:
                    metrics.mqttDidConnect()
                case .disconnected, .connectFailed:
                    metrics.mqttConnected.record(0)
                case .subscribed:
                    break
                }
            })
        self.buffer = buffer
        self.bytes = bytes
        self.metrics = metrics
        self.readiness = readiness
        self.logger = logger
    }

    public func run() async throws {
        // After a reload, `ReloadEffects` updates the subscriptions.
        try client.setSubscriptions(router.rules.current.topicFilters)
        let client = self.client
        client.start()
        await withDiscardingTaskGroup { group in
            group.addTask {
                await client.waitUntilReady()
                if client.isConnected { self.readiness.markReady() }
            }
            await withGracefulShutdownHandler {
                await consume()
                // Returned early when cancelled: a network thread blocked on the full buffer must
                // get its refusal (the batch stays unacknowledged), or stopping it would wait forever.
                buffer.finish()
                bytes.finish()
            } onGracefulShutdown: {
                // Stopping joins the network thread, which may be waiting for a batch that this
                // service is still routing (or blocked on a full buffer): do it off the cooperative pool.
                BlockingThreads.shared.submit { [client, buffer = self.buffer, bytes = self.bytes] in
                    client.shutdown()
                    buffer.finish()
                    bytes.finish()
                }
            }
            group.cancelAll()
        }
    }

    /// Evaluates events until the buffer is finished and drained.
    func consume() async {
        var seen = 0
        // Taken a run at a time: one lock acquisition per run instead of one per event.
        while let items = await buffer.next(upTo: 256) {
            metrics.eventsIn.increment(by: items.count)
            var routedBytes = 0
            progress.begin()
            defer { progress.end() }
            for item in items {
                // Sampled: the gauge shows a filling buffer (backpressure building) without a lock per event.
                seen &+= 1
                if seen & 0xFF == 0 || seen < 256 { metrics.ingestBuffered.record(buffer.count) }
                routedBytes += item.event.bufferedBytes
                await router.route(item.event, settlement: item.settlement)
                if item.closesBatch { item.settlement?.seal() }
                progress.advance()
            }
            bytes.release(routedBytes)
            metrics.ingestBufferedBytes.record(bytes.held)
        }
    }
}
