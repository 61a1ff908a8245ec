import FoundationEssentials
import Logging
import WeirActions
import WeirCore
import WeirEngine
import WeirForwarder
import WeirMQTT
import WeirRules
import WeirStore

/// The event path: ingest → router → windows and the action pool → publisher and outboxes.
struct DaemonPipeline {
    let publisher: MQTTClient
    let functions: FunctionRunner
    let pool: ActionPool
    let windows: WindowEngine
    let partitions: PartitionEngine
    let router: EventRouter
    let ingest: IngestService
    let readiness: Readiness
}

/// Builds the event path on the store; resumes the invocations a previous run left journaled.
func buildPipeline(
    config: WeirConfig, password: String?, rules: LiveRules, store: DaemonStore, clock: @escaping @Sendable () -> Int64,
    metrics: DaemonMetrics, logger: Logger
) throws -> DaemonPipeline {
    let forwardTo: @Sendable (String, Invocation) throws -> Completion = { [outboxes = store.outboxes] upstream, invocation in
        guard let outbox = outboxes[upstream] else { throw NoUpstreams(upstream: upstream) }
        let record = OutboxRecord(rule: invocation.rule, topic: invocation.topic, time: invocation.receivedAt, data: invocation.row)
        var priority = OutboxPriority.normal
        if case .forward(_, let chosen) = invocation.action { priority = chosen }
        let ticket = outbox.enqueue(record.encoded(), priority: priority)
        return { _ = try await ticket.sequence }
    }

    let publisherClient = try MQTTClient(
        configuration: MQTTConfiguration(
            host: config.mqtt.host, port: config.mqtt.port, clientID: config.effectiveClientID + "-pub",
            username: config.mqtt.username, password: password, keepAliveSeconds: config.mqtt.keepAliveSeconds,
            cleanSession: true, tls: config.mqtt.tls),
        logger: logger)
    let emitted = EmitSink()
    // Functions' own writable directory (under systemd's StateDirectory), in WEIR_STATE_DIR.
    let functionsDir = config.stateDir + "/functions"
    try FileManager.default.createDirectory(atPath: functionsDir, withIntermediateDirectories: true)
    let functions = makeFunctionRunner(
        rules: rules, deadLetters: store.deadLetters, maxHops: config.maxHops, emit: emitted.emit, stateDirectory: functionsDir,
        blockingThreads: config.pool.maxConcurrency + 4, logger: logger, metrics: metrics)
    let journal = store.journal
    let pool = ActionPool(
        configuration: config.pool,
        executor: ActionRunner(
            publisher: publisherClient, logger: logger, forward: forwardTo, functions: functions,
            deadLetter: storeDeadLetter(deadLetters: store.deadLetters)),
        journal: journal, logger: logger, metricsFactory: metrics.factory)
    let resumed = try journal.resumable()
    if !resumed.isEmpty {
        logger.notice("function invocations resumed from the journal", metadata: ["invocations": "\(resumed.count)"])
        pool.resume(resumed)
    }
    let readiness = Readiness()
    let windows = WindowEngine(
        rules: rules.current, store: WindowStore(db: store.db), clock: clock, logger: logger, factory: metrics.factory)
    let partitions = PartitionEngine(
        rules: rules.current, store: WindowStore.partitions(db: store.db), logger: logger, factory: metrics.factory)
    let router = EventRouter(
        rules: rules, pool: pool, windows: windows, metrics: metrics.engine, maxPayloadBytes: config.mqtt.maxPayloadBytes,
        logger: logger, partitions: partitions.states)
    emitted.connect(router)
    let db = store.db
    let ingest: IngestService
    do {
        ingest = try IngestService(
            config: config, password: password, router: router, metrics: metrics, readiness: readiness, canConnect: { db.isWritable },
            logger: logger)
    } catch {
        // The window checkpoint thread runs from WindowEngine's constructor; no service owns it yet.
        windows.close()
        partitions.close()
        throw error
    }
    return DaemonPipeline(
        publisher: publisherClient, functions: functions, pool: pool, windows: windows, partitions: partitions, router: router,
        ingest: ingest,
        readiness: readiness)
}

/// Runs `call:` actions with the functions of the rules in force; failures after the last attempt
/// go to the dead-letter store (kind `function`).
func makeFunctionRunner(
    rules: LiveRules, deadLetters: DeadLetters, maxHops: Int, emit: @escaping @Sendable (Event) async throws -> Bool,
    stateDirectory: String,
    blockingThreads: Int, logger: Logger, metrics: DaemonMetrics
) -> FunctionRunner {
    FunctionRunner(
        lookup: { rules.snapshot.set.functions[$0] }, logger: logger, metricsFactory: metrics.factory,
        deadLetter: storeDeadLetter(deadLetters: deadLetters), maxHops: maxHops, emit: emit, stateDirectory: stateDirectory,
        blockingThreads: blockingThreads)
}

/// Stores a failed action's row as a dead letter `{rule, row}` with its target and error. A letter
/// that cannot be stored throws: a journaled invocation then stays journaled.
func storeDeadLetter(deadLetters: DeadLetters) -> @Sendable (FunctionFailure) async throws -> Void {
    { failure in
        let letter = DeadLetter(
            kind: failure.kind, target: failure.function, failedAt: currentTimeMillis(), error: failure.error,
            attempts: failure.attempts, payload: ["rule": .string(failure.rule), "row": .object(failure.row)])
        _ = try await BlockingThreads.shared.run { try deadLetters.add(letter) }
    }
}
