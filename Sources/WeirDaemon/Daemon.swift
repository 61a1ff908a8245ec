import Foundation
import Logging
import Metrics
import ServiceLifecycle
import WeirCore
import WeirEngine
import WeirForwarder
import WeirFunctions
import WeirMQTT
import WeirRocksDB
import WeirRules
import WeirStore

/// A fully composed Weir daemon. `weir run` builds one with `buildDaemon` and runs it; tests do the same.
public struct Daemon: Sendable {
    public let config: WeirConfig
    public let metrics: DaemonMetrics
    public let rules: LiveRules
    public let pool: FunctionPool
    public let readiness: Readiness
    public let admin: AdminServer?
    /// The durable outbox of each upstream.
    public let outboxes: [String: Outbox]
    /// Batches upstreams refused and unreadable records; nil without upstreams.
    public let deadLetters: DeadLetters?
    let group: ServiceGroup

    /// Runs until SIGTERM/SIGINT (when signal handling is on) or `shutdown()`.
    public func run() async throws {
        try await group.run()
    }

    /// Starts a graceful shutdown: ingest stops first, the pool drains, then the outbound connection closes.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}

/// Composes the daemon from its configuration.
///
/// - Parameters:
///   - handleSignals: trap SIGTERM/SIGINT (graceful stop) and SIGHUP (reload); off in tests that
///     run several daemons in one process.
///   - clock: wall-clock milliseconds for windowed and scheduled rules; tests inject their own.
///   - scheduleInterval: how often scheduled rules are checked for being due.
/// - Throws: `DiagnosticList` when the rules do not load, or a configuration error.
public func buildDaemon(
    config: WeirConfig, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment,
    handleSignals: Bool = true, clock: @escaping @Sendable () -> Int64 = currentTimeMillis,
    scheduleInterval: Duration = .seconds(1)
) throws -> Daemon {
    let metrics = DaemonMetrics()
    let upstreamNames = Set(config.upstreams.map(\.name))
    let initialRules = try RuleLoader.load(directory: config.rulesDir, upstreams: upstreamNames)
    let rules = LiveRules(
        initial: initialRules, directory: config.rulesDir, upstreams: upstreamNames, logger: logger, metrics: metrics.engine)
    let password = try config.mqtt.passwordFile.map(readSecret)

    var outboxes: [String: Outbox] = [:]
    var forwarders: [ForwarderService] = []
    // One RocksDB under state_dir holds the outboxes, dead letters and window state.
    let storePath = config.stateDir + "/store"
    try FileManager.default.createDirectory(atPath: storePath, withIntermediateDirectories: true)
    let db: RocksDB
    do {
        db = try RocksDB(path: storePath)
    } catch let error as RocksDBError where error.message.contains("Corruption") {
        throw ConfigurationError(
            description: """
                the store at \(storePath) is damaged: \(error.message)
                Nothing was deleted. Back up \(storePath), then run `weir store repair --config \(config.path)`: \
                it keeps every readable record.
                """)
    }
    let storeHealth = StoreHealth(db: db, logger: logger, factory: metrics.factory)
    let letters = try DeadLetters(db: db, limits: config.deadLetters, metricsFactory: metrics.factory, logger: logger)
    let deadLetters: DeadLetters? = letters
    if !config.upstreams.isEmpty {
        for upstream in config.upstreams {
            let outbox = try Outbox(
                db: db, name: upstream.name, commitInterval: config.commitInterval, limits: upstream.queue, logger: logger,
                metricsFactory: metrics.factory)
            outboxes[upstream.name] = outbox
            let connection = try makeUpstream(upstream, gatewayID: config.gatewayID, metrics: metrics, logger: logger)
            let forwarder = Forwarder(
                name: upstream.name, outbox: outbox, sender: connection, deadLetters: letters, configuration: upstream.forwarder,
                gatewayID: config.gatewayID, logger: logger, metricsFactory: metrics.factory)
            forwarders.append(ForwarderService(upstream: connection, forwarder: forwarder))
        }
    }
    let forwardTo: @Sendable (String, Invocation) throws -> Completion = { [outboxes] upstream, invocation in
        guard let outbox = outboxes[upstream] else { throw NoUpstreams(upstream: upstream) }
        let record = OutboxRecord(rule: invocation.rule, topic: invocation.topic, time: invocation.receivedAt, data: invocation.row)
        let ticket = outbox.enqueue(record.encoded())
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
        rules: rules, deadLetters: letters, maxHops: config.maxHops, emit: emitted.emit, stateDirectory: functionsDir,
        blockingThreads: config.pool.maxConcurrency + 4, logger: logger, metrics: metrics)
    rules.onChange { fresh in functions.retire(keeping: fresh.functions) }
    let journal = PoolJournal(journal: try InvocationJournal(db: db, logger: logger))
    let pool = FunctionPool(
        configuration: config.pool,
        executor: BuiltinActions(publisher: publisherClient, logger: logger, forward: forwardTo, functions: functions),
        journal: journal, logger: logger, metricsFactory: metrics.factory)
    let resumed = try journal.resumable()
    if !resumed.isEmpty {
        logger.notice("function invocations resumed from the journal", metadata: ["invocations": "\(resumed.count)"])
        pool.resume(resumed)
    }
    let readiness = Readiness()
    let windows = WindowEngine(rules: initialRules, store: WindowStore(db: db), clock: clock, logger: logger, factory: metrics.factory)
    let router = EventRouter(
        rules: rules, pool: pool, windows: windows, metrics: metrics.engine, maxPayloadBytes: config.mqtt.maxPayloadBytes, logger: logger)
    emitted.connect(router)
    let ingest = try IngestService(
        config: config, password: password, router: router, metrics: metrics, readiness: readiness, canConnect: { db.isWritable },
        logger: logger)

    var admin: AdminServer?
    if let host = config.admin.host {
        admin = AdminServer(
            host: host, port: config.admin.port, metrics: metrics,
            health: {
                let connected = ingest.client.isConnected
                let storeProblem = storeHealth.problem
                let healthy = connected && storeProblem == nil
                let body: JSONValue = [
                    "status": .string(healthy ? "ok" : "degraded"), "mqtt_connected": .bool(connected),
                    "store": .string(storeProblem ?? "ok"), "rules": .int(Int64(rules.current.rules.count)),
                    "queued": .int(Int64(pool.queued)),
                ]
                return AdminServer.Health(healthy: healthy, body: String(decoding: JSONWriter.bytes(body), as: UTF8.self) + "\n")
            },
            commands: AdminCommands(deadLetters: letters, pool: pool, outboxes: outboxes, logger: logger),
            logger: logger)
    }

    // Shutdown runs in reverse: notifier (STOPPING=1), watcher, ingest, windows, pool (drains into
    // the outboxes), schedules, publisher, forwarders, store (final commit), admin.
    var services: [any Service] = []
    if let admin { services.append(admin) }
    services.append(StoreService(db: db, outboxes: outboxes, windows: windows, journal: journal.journal, health: storeHealth))
    services += forwarders as [any Service]
    services.append(PublisherService(client: publisherClient))
    // Stops after the pool has drained, so the runs that finished in the drain are recorded.
    services.append(
        ScheduleService(
            scheduler: Scheduler(
                rules: rules, pool: pool, store: ScheduleStore(db: db), clock: clock, logger: logger, metricsFactory: metrics.factory),
            interval: scheduleInterval))
    services.append(PoolService(pool: pool, afterDrain: { await functions.shutdown() }))
    services.append(WindowService(engine: windows, pool: pool, interval: .milliseconds(100)))
    services.append(ingest)
    services.append(RuleWatcher(rules: rules, interval: config.rulesWatchInterval, handleSIGHUP: handleSignals, logger: logger))
    services.append(SystemdNotifier(environment: environment, readiness: readiness, logger: logger))

    var groupConfig = ServiceGroupConfiguration(
        services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
        gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
        logger: logger)
    groupConfig.maximumGracefulShutdownDuration = config.shutdownTimeout
    groupConfig.maximumCancellationDuration = .seconds(5)
    let group = ServiceGroup(configuration: groupConfig)
    return Daemon(
        config: config, metrics: metrics, rules: rules, pool: pool, readiness: readiness, admin: admin, outboxes: outboxes,
        deadLetters: deadLetters,
        group: group)
}

/// Runs `call:` actions with the functions of the rules in force; failures after the last attempt
/// go to the dead-letter store (kind `function`).
func makeFunctionRunner(
    rules: LiveRules, deadLetters: DeadLetters, maxHops: Int, emit: @escaping @Sendable (Event) async throws -> Bool,
    stateDirectory: String,
    blockingThreads: Int, logger: Logger, metrics: DaemonMetrics
) -> FunctionRunner {
    FunctionRunner(
        lookup: { rules.current.functions[$0] }, logger: logger, metricsFactory: metrics.factory,
        deadLetter: { failure in
            let letter = DeadLetter(
                kind: failure.kind, target: failure.function, failedAt: currentTimeMillis(), error: failure.error,
                attempts: failure.attempts,
                payload: ["rule": .string(failure.rule), "row": .object(failure.row)])
            // A letter that cannot be stored throws: its invocation then stays journaled.
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                DispatchQueue.global().async { done.resume(with: Result { try deadLetters.add(letter) }.map { _ in }) }
            }
        }, maxHops: maxHops, emit: emit, stateDirectory: stateDirectory, blockingThreads: blockingThreads)
}

/// The connection for one upstream; MQTT ones report their state in `weir_upstream_connected`.
func makeUpstream(_ upstream: UpstreamConfig, gatewayID: String, metrics: DaemonMetrics, logger: Logger) throws -> any Upstream {
    switch upstream.transport {
    case .http(let http):
        return try HTTPUpstream(configuration: http, compressed: upstream.forwarder.compression)
    case .mqtt(let mqtt):
        let connected = Gauge(label: "weir_upstream_connected", dimensions: [("upstream", upstream.name)], factory: metrics.factory)
        connected.record(0)
        let client = try MQTTClient(
            configuration: mqtt, logger: logger,
            onConnection: { change in
                switch change {
                case .connected: connected.record(1)
                case .disconnected, .connectFailed: connected.record(0)
                case .subscribed: break
                }
            })
        return MQTTUpstream(client: client, topic: upstream.resolvedTopic(gatewayID: gatewayID))
    }
}

/// Reads a secret file (password, token), dropping one trailing newline.
func readSecret(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path), var text = String(data: data, encoding: .utf8) else {
        throw ConfigurationError(description: "\(path): cannot read secret file")
    }
    while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
    return text
}

/// A configuration problem found while composing the daemon.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
}
