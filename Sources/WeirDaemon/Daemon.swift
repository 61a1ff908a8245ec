import FoundationEssentials
import Logging
import ServiceLifecycle
import WeirActions
import WeirCore
import WeirEngine
import WeirRules
import WeirStore

/// A fully composed Weir daemon. `weir run` builds one with `buildDaemon` and runs it; tests do the same.
public struct Daemon: Sendable {
    public let config: WeirConfig
    public let metrics: DaemonMetrics
    public let rules: LiveRules
    public let pool: ActionPool
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
    scheduleInterval: Duration = .seconds(1), version: String = "0.0.0-dev", recentLog: RecentLog? = nil
) throws -> Daemon {
    try config.requireCredentialsResolved()
    let metrics = DaemonMetrics()
    let upstreamNames = Set(config.upstreams.map(\.name))
    let initialRules = try RuleLoader.load(directory: config.rulesDir, upstreams: upstreamNames)
    let rules = LiveRules(
        initial: initialRules, directory: config.rulesDir, upstreams: upstreamNames, logger: logger, metrics: metrics.engine)
    let password = try config.mqtt.passwordFile.map(readSecret)

    let store = try buildStore(config: config, metrics: metrics, logger: logger)
    do {
        return try composeServices(
            config: config, logger: logger, environment: environment, handleSignals: handleSignals, clock: clock,
            scheduleInterval: scheduleInterval, metrics: metrics, rules: rules, password: password, store: store, version: version,
            recentLog: recentLog)
    } catch {
        store.closeAfterFailedStart()
        throw error
    }
}

/// Everything above the store; nothing in it starts a thread before the service group runs, but the
/// store's committers already run, so `buildDaemon` closes the store when this throws.
private func composeServices(
    config: WeirConfig, logger: Logger, environment: [String: String], handleSignals: Bool,
    clock: @escaping @Sendable () -> Int64, scheduleInterval: Duration, metrics: DaemonMetrics, rules: LiveRules,
    password: String?, store: DaemonStore, version: String, recentLog: RecentLog?
) throws -> Daemon {
    let forwarders = try buildUpstreams(config: config, store: store, metrics: metrics, logger: logger)
    let pipeline = try buildPipeline(
        config: config, password: password, rules: rules, store: store, clock: clock, metrics: metrics, logger: logger)
    ReloadEffects(
        windows: pipeline.windows, partitions: pipeline.partitions, ingest: pipeline.ingest.client, functions: pipeline.functions,
        logger: logger
    )
    .register(on: rules)
    let admin = try buildAdmin(
        config: config, store: store, pipeline: pipeline, rules: rules, metrics: metrics, version: version, recentLog: recentLog,
        logger: logger)
    let services = buildServices(
        config: config, store: store, forwarders: forwarders, pipeline: pipeline, rules: rules, admin: admin,
        environment: environment, handleSignals: handleSignals, clock: clock, scheduleInterval: scheduleInterval, metrics: metrics,
        logger: logger)
    let group = buildServiceGroup(services: services, config: config, handleSignals: handleSignals, logger: logger)
    return Daemon(
        config: config, metrics: metrics, rules: rules, pool: pipeline.pool, readiness: pipeline.readiness, admin: admin,
        outboxes: store.outboxes, deadLetters: store.deadLetters, group: group)
}

/// Reads a `password_file`: trailing newlines are ignored (`SecretFile`, `.trailingNewlines`).
func readSecret(_ path: String) throws -> String {
    do {
        return try SecretFile.read(path: path, trimming: .trailingNewlines)
    } catch {
        throw ConfigurationError(description: "\(path): cannot read secret file")
    }
}

/// A configuration problem found while composing the daemon.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
}
