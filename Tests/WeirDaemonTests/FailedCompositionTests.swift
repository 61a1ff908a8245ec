import Foundation
import Logging
import Testing
import WeirDaemon

/// A composition that fails after the store opened must not leave the store's committer threads
/// (or RocksDB's lock) behind: the next start in the same process, or a `weir store` command,
/// must be able to open the store again.
@Suite struct FailedCompositionTests {
    func config(stateDir: String, rulesDir: String, tls: String) throws -> WeirConfig {
        try ConfigLoader.parse(
            """
            gateway_id: test
            rules_dir: \(rulesDir)
            state_dir: \(stateDir)
            mqtt: { host: 127.0.0.1, port: 1, client_id: failed-start, qos: 1, clean_session: false \(tls) }
            upstreams:
              cloud: { mqtt: { host: 127.0.0.1, port: 1 } }
            admin: { listen: 127.0.0.1:0 }
            """, file: "test.yaml")
    }

    @Test func aStartThatFailsAfterOpeningTheStoreReleasesIt() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("weir-failed-\(UUID().uuidString)")
        let rules = root.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let logger = Logger(label: "weir-test")
        // libmosquitto refuses a CA file that does not exist, after the store, its outbox and
        // journal are up.
        let broken = try config(
            stateDir: root.path + "/state", rulesDir: rules.path, tls: ", tls: { ca_file: \(root.path)/missing-ca.pem }")
        #expect(throws: (any Error).self) { try buildDaemon(config: broken, logger: logger, environment: [:], handleSignals: false) }
        // The store is free again: RocksDB's LOCK would refuse a second open otherwise.
        let working = try config(stateDir: root.path + "/state", rulesDir: rules.path, tls: "")
        let daemon = try buildDaemon(config: working, logger: logger, environment: [:], handleSignals: false)
        #expect(daemon.outboxes["cloud"] != nil)
    }
}
