import Logging
import ServiceLifecycle
import WeirCore
import WeirEngine
import WeirStore

/// The admin server, when `admin.host` is set.
func buildAdmin(
    config: WeirConfig, store: DaemonStore, pipeline: DaemonPipeline, rules: LiveRules, metrics: DaemonMetrics, version: String,
    recentLog: RecentLog?, logger: Logger
) throws -> AdminServer? {
    guard let host = config.admin.host else { return nil }
    let (ingest, storeHealth, pool) = (pipeline.ingest, store.health, pipeline.pool)
    let token: String?
    do {
        token = try AdminToken.loadOrCreate(stateDir: config.stateDir)
    } catch {
        token = nil
        logger.error("admin commands disabled: \(error)")
    }
    let readToken = try config.admin.readTokenFile.map { path in try SecretFile.read(path: path, trimming: .whitespace) }
    let activity = RuleActivity()
    return AdminServer(
        host: host, port: config.admin.port, metrics: metrics, readToken: readToken,
        health: {
            healthReport(
                mqttConnected: ingest.client.isConnected, storeProblem: storeHealth.problem, rules: rules.current.rules.count,
                queued: pool.queued)
        },
        commands: AdminCommands(deadLetters: store.deadLetters, pool: pool, outboxes: store.outboxes, logger: logger),
        commandToken: token,
        status: StatusReport(
            config: config, version: version, startedAt: currentTimeMillis(), ingest: ingest.client, storeHealth: storeHealth,
            rules: rules, outboxes: store.outboxes, deadLetters: store.deadLetters, metrics: metrics,
            activity: activity, stateDirectory: config.stateDir, taps: pipeline.router.taps,
            history: StatusHistory(metrics: metrics, activity: activity, outboxes: store.outboxes), recent: recentLog),
        taps: pipeline.router.taps, logger: logger)
}

/// `/healthz`: healthy while the ingest connection is up and the store accepts writes.
func healthReport(mqttConnected connected: Bool, storeProblem: String?, rules: Int, queued: Int) -> AdminServer.Health {
    let healthy = connected && storeProblem == nil
    let body: JSONValue = [
        "status": .string(healthy ? "ok" : "degraded"), "mqtt_connected": .bool(connected),
        "store": .string(storeProblem ?? "ok"), "rules": .int(Int64(rules)),
        "queued": .int(Int64(queued)),
    ]
    return AdminServer.Health(healthy: healthy, body: String(decoding: JSONWriter.bytes(body), as: UTF8.self) + "\n")
}

/// The daemon's services in start order.
func buildServices(
    config: WeirConfig, store: DaemonStore, forwarders: [ForwarderService], pipeline: DaemonPipeline, rules: LiveRules,
    admin: AdminServer?, environment: [String: String], handleSignals: Bool, clock: @escaping @Sendable () -> Int64,
    scheduleInterval: Duration, metrics: DaemonMetrics, logger: Logger
) -> [any Service] {
    let (pool, functions, windows) = (pipeline.pool, pipeline.functions, pipeline.windows)
    // Shutdown runs in reverse: notifier (STOPPING=1), watcher, ingest, windows, pool (drains into
    // the outboxes), schedules, publisher, forwarders, store (final commit), admin.
    var services: [any Service] = []
    if let admin { services.append(admin) }
    services.append(
        StoreService(
            db: store.db, outboxes: store.outboxes, windows: windows, partitions: pipeline.partitions, journal: store.journal.journal,
            health: store.health))
    services += forwarders as [any Service]
    services.append(PublisherService(client: pipeline.publisher))
    // Stops after the pool has drained, so the runs that finished in the drain are recorded.
    let scheduler = Scheduler(
        rules: rules, pool: pool, store: ScheduleStore(db: store.db), clock: clock, logger: logger, metricsFactory: metrics.factory)
    services.append(ScheduleService(scheduler: scheduler, interval: scheduleInterval))
    services.append(PoolService(pool: pool, afterDrain: { await functions.shutdown() }))
    services.append(WindowService(engine: windows, pool: pool, interval: .milliseconds(100)))
    services.append(pipeline.ingest)
    services.append(RuleWatcher(rules: rules, interval: config.rulesWatchInterval, handleSIGHUP: handleSignals, logger: logger))
    // WATCHDOG=1 only while these loops are idle or moving: a stuck Weir is restarted by systemd.
    let progress = ProgressWatch(
        [pipeline.ingest.progress, store.journal.journal.progress]
            + store.outboxes.keys.sorted().compactMap { store.outboxes[$0]?.progress }
            + [windows.checkpointProgress].compactMap { $0 })
    services.append(SystemdNotifier(environment: environment, readiness: pipeline.readiness, progress: progress, logger: logger))
    return services
}

/// Runs `services`; graceful shutdown stops them in reverse order.
func buildServiceGroup(services: [any Service], config: WeirConfig, handleSignals: Bool, logger: Logger) -> ServiceGroup {
    var groupConfig = ServiceGroupConfiguration(
        services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
        gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
        logger: logger)
    groupConfig.maximumGracefulShutdownDuration = config.shutdownTimeout
    groupConfig.maximumCancellationDuration = .seconds(5)
    return ServiceGroup(configuration: groupConfig)
}
