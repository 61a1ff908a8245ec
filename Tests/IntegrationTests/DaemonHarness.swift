import Foundation
import Logging
import Synchronization
import WeirCore
import WeirDaemon
import WeirMQTT
import WeirTestSupport

/// A daemon built with `buildDaemon` against a real broker, running in a task.
final class DaemonHarness: Sendable {
    let daemon: Daemon
    let task: Task<Void, any Error>
    let rulesDir: URL

    init(
        broker: MosquittoBroker, rules: [String: String], clientID: String = "weir-test-\(UUID().uuidString.prefix(8))",
        extraConfig: String = "", rulesDir: URL? = nil, stateDir: URL? = nil,
        clock: @escaping @Sendable () -> Int64 = currentTimeMillis,
        scheduleInterval: Duration = .seconds(1)
    ) async throws {
        let dir = try rulesDir ?? makeTemporaryDirectory(prefix: "weir-rules")
        for (name, text) in rules {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        self.rulesDir = dir
        let state = try stateDir ?? makeTemporaryDirectory(prefix: "weir-state")
        let yaml = """
            gateway_id: test
            rules_dir: \(dir.path)
            state_dir: \(state.path)
            mqtt: { host: 127.0.0.1, port: \(broker.port), client_id: \(clientID), qos: 1, clean_session: false }
            admin: { listen: 127.0.0.1:0 }
            rules_watch_interval: 100ms
            shutdown_timeout: 10s
            \(extraConfig)
            """
        let config = try ConfigLoader.parse(yaml, file: "test.yaml")
        var logger = Logger(label: "weir-test")
        logger.logLevel = .warning
        daemon = try buildDaemon(
            config: config, logger: logger, environment: [:], handleSignals: false, clock: clock, scheduleInterval: scheduleInterval)
        let daemon = self.daemon
        task = Task { try await daemon.run() }
        await daemon.readiness.wait()
    }

    func metrics() -> String { daemon.metrics.exposition() }

    func metric(_ series: String) -> Double { metricValue(metrics(), series) ?? 0 }

    func stop() async throws {
        await daemon.shutdown()
        try await task.value
    }
}

/// A subscriber that records every message on some filters.
final class Recorder: Sendable {
    final class Log: Sendable {
        let entries = Mutex<[(topic: String, payload: String)]>([])
        let raw = Mutex<[[UInt8]]>([])
    }

    let log = Log()
    let client: MQTTClient

    init(broker: MosquittoBroker, filters: Set<String>, persistentID: String? = nil) async throws {
        let log = self.log
        client = try MQTTClient(
            configuration: MQTTConfiguration(
                port: broker.port, clientID: persistentID ?? "rec-\(UUID().uuidString.prefix(8))", cleanSession: persistentID == nil,
                reconnectDelayMin: 1, reconnectDelayMax: 1),
            subscribeQoS: 1, logger: Logger(label: "rec"),
            onMessage: { event in
                log.entries.withLock { $0.append((event.topic, String(decoding: event.payload, as: UTF8.self))) }
                log.raw.withLock { $0.append(event.payload) }
            })
        try client.setSubscriptions(filters)
        client.start()
        await client.waitUntilReady()
    }

    var count: Int { log.entries.withLock { $0.count } }
    var all: [(topic: String, payload: String)] { log.entries.withLock { $0 } }
    var payloads: [[UInt8]] { log.raw.withLock { $0 } }

    deinit { client.shutdown() }
}

/// A publishing client for tests.
func publisher(_ broker: MosquittoBroker) async throws -> MQTTClient {
    let client = try MQTTClient(
        configuration: MQTTConfiguration(
            port: broker.port, clientID: "pub-\(UUID().uuidString.prefix(8))", cleanSession: true, maxInflight: 1000),
        logger: Logger(label: "pub"))
    client.start()
    await client.waitUntilReady()
    return client
}

/// Writes an executable `/bin/sh` script into `dir` and returns its path.
func writeScript(_ body: String, in dir: URL, name: String = "fn-\(UUID().uuidString.prefix(6)).sh") throws -> String {
    let path = dir.appendingPathComponent(name).path
    try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
}
