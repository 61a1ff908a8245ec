import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// Publishes with `mosquitto_pub -V mqttv5`, its output in `dir`.
func publishV5(port: Int, topic: String, payload: String, properties: [[String]], repeat count: Int = 1, in dir: URL) throws -> Int32? {
    let output = dir.appendingPathComponent("pub-\(UUID().uuidString.prefix(6)).txt").path
    return try mosquittoPubV5(port: port, topic: topic, payload: payload, properties: properties, count: count, output: output)
}

/// The admin endpoint's value for `series` (0 while it does not answer).
func adminMetric(_ port: Int, _ series: String) -> Double {
    metricValue((try? httpGet(port: port, path: "/metrics").body) ?? "", series) ?? 0
}

/// MQTT 5 through the real binary and real brokers: properties in SQL, expiry, PUBACK refusals.
@Suite(.serialized) struct MQTT5Tests {
    @Test func userPropertiesAndContentTypeReachSQLAndAWrongContentTypeIsInvalid() async throws {
        let local = try MosquittoBroker()
        let cloud = try MosquittoBroker()
        let rule = """
            name: tagged
            sql: >-
              SELECT device, user_property('site') AS site, user_property('missing') AS missing,
              content_type() AS type, user_property() AS all FROM "sensors/+"
            actions:
              - forward: cloud
            """
        let fixture = try BinaryFixture(
            name: "v5props", brokerPort: local.port, rules: ["tagged.yaml": rule],
            extra: """
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloud.port), protocol: 5 }
                    batch: { max_events: 10, max_delay: 20ms }
                    compression: zstd
                """)
        try fixture.rewriteMQTT("protocol: 5")
        let inbox = try await Recorder(broker: cloud, filters: ["weir/#"])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(20)) { adminMetric(fixture.admin, "weir_mqtt_connected") == 1 })
        #expect(
            try publishV5(
                port: local.port, topic: "sensors/a", payload: #"{"device":"d1"}"#,
                properties: [["user-property", "site", "north"], ["user-property", "rack", "7"], ["content-type", "application/json"]],
                in: fixture.dir) == 0)
        // Not JSON by its sender's word: counted invalid, never parsed.
        #expect(
            try publishV5(
                port: local.port, topic: "sensors/a", payload: #"{"device":"d2"}"#, properties: [["content-type", "text/plain"]],
                in: fixture.dir) == 0)
        // Declared JSON, and is not.
        #expect(
            try publishV5(
                port: local.port, topic: "sensors/a", payload: "not json", properties: [["content-type", "application/json"]],
                in: fixture.dir) == 0)
        #expect(
            await eventually(timeout: .seconds(20)) {
                adminMetric(fixture.admin, #"weir_events_invalid_total{reason="content_type"}"#) == 2
            })
        var rows: [JSONValue] = []
        #expect(
            await eventually(timeout: .seconds(20)) {
                rows = inbox.payloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { $0["data"] }
                return !rows.isEmpty
            })
        #expect(rows.count == 1)
        #expect(rows.first?["device"] == "d1")
        #expect(rows.first?["site"] == "north")
        #expect(rows.first?["missing"] == .null)
        #expect(rows.first?["type"] == "application/json")
        #expect(rows.first?["all"] == ["site": "north", "rack": "7"])
        #expect(adminMetric(fixture.admin, #"weir_rule_matched_total{rule="tagged"}"#) == 1)
    }

    @Test func aMessageThatExpiresWhileItWaitsInWeirIsCountedNotProcessed() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-expiry")
        let calls = dir.appendingPathComponent("calls.log").path
        // One at a time, 0.7 s each, one queued: the ingest buffer waits behind the pool, and
        // messages with a 1 s expiry run out in it.
        let fn = try writeScript(#"cat >/dev/null; echo x >>"$CALLS"; sleep 0.7; echo '{}'"#, in: dir)
        let rules = """
            functions:
              - name: slow
                exec: { command: ["\(fn)"], timeout: 10s, env: { CALLS: "\(calls)" } }
            rules:
              - name: r
                sql: SELECT n FROM "jobs/#"
                actions:
                  - call: slow
            """
        let fixture = try BinaryFixture(
            name: "v5expiry", brokerPort: broker.port, rules: ["fn.yaml": rules], extra: "pool: { max_concurrency: 1, max_queued: 1 }")
        try fixture.rewriteMQTT("protocol: 5")
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(20)) { adminMetric(fixture.admin, "weir_mqtt_connected") == 1 })
        let total = 8
        // One client, back to back: they all wait behind the first.
        #expect(
            try publishV5(
                port: broker.port, topic: "jobs/a", payload: #"{"n":1}"#, properties: [["message-expiry-interval", "1"]], repeat: total,
                in: dir) == 0)
        // Every message is either run or expired, and the later ones (a few seconds behind the
        // pool) must have expired.
        var (expired, ran) = (0.0, 0.0)
        #expect(
            await eventually(timeout: .seconds(30)) {
                expired = adminMetric(fixture.admin, "weir_events_expired_total")
                ran = adminMetric(fixture.admin, #"weir_function_invocations_total{function="slow"}"#)
                return expired + ran == Double(total)
            }, "expired \(expired), ran \(ran)")
        #expect(expired >= 1)
        #expect(ran >= 1)
        let lines = (try? String(contentsOfFile: calls, encoding: .utf8))?.split(separator: "\n").count ?? 0
        #expect(lines == Int(ran), "an expired message never reached the function")
        // One without an expiry is processed however long it waits.
        #expect(try publishV5(port: broker.port, topic: "jobs/a", payload: #"{"n":99}"#, properties: [], in: dir) == 0)
        #expect(
            await eventually(timeout: .seconds(20)) {
                adminMetric(fixture.admin, #"weir_function_invocations_total{function="slow"}"#) == ran + 1
            })
    }

    @Test func anUpstreamPUBACKRefusalIsDeadLetteredWithItsReasonCode() async throws {
        let local = try MosquittoBroker()
        let aclDir = try makeTemporaryDirectory(prefix: "weir-acl")
        let acl = aclDir.appendingPathComponent("acl").path
        // Anonymous clients may write only under allowed/: Weir's weir/<gw>/events is denied, so
        // mosquitto answers an MQTT 5 publish with PUBACK 0x87 (3.1.1 would PUBACK success).
        try "topic readwrite allowed/#\n".write(toFile: acl, atomically: true, encoding: .utf8)
        let cloud = try MosquittoBroker(listenerOptions: "acl_file \(acl)")
        let fixture = try forwardingToV5(name: "v5refused", local: local, upstreamPort: cloud.port)
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(20)) { adminMetric(fixture.admin, #"weir_upstream_connected{upstream="cloud"}"#) == 1 })
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        try await publishReadings(pub, 0..<5)
        #expect(
            await eventually(timeout: .seconds(20)) { adminMetric(fixture.admin, #"weir_dead_letters_total{upstream="cloud"}"#) == 5 })
        #expect(adminMetric(fixture.admin, #"weir_forwarded_events_total{upstream="cloud"}"#) == 0)
        #expect(await eventually { adminMetric(fixture.admin, #"weir_outbox_depth{upstream="cloud"}"#) == 0 })
        let list = try runWeir(["dlq", "list", "--config", fixture.config.path], in: fixture.dir)
        #expect(list.output.contains("PUBACK 0x87 Not authorized"), "\(list.output)")
    }
}

/// A binary forwarding `sensors/+/telemetry` to an MQTT 5 upstream on `upstreamPort`, retrying fast.
func forwardingToV5(name: String, local: MosquittoBroker, upstreamPort: Int) throws -> BinaryFixture {
    try BinaryFixture(
        name: name, brokerPort: local.port, rules: ["fwd.yaml": forwardRule],
        extra: """
            upstreams:
              cloud:
                mqtt: { host: 127.0.0.1, port: \(upstreamPort), protocol: 5 }
                batch: { max_events: 10, max_delay: 20ms }
                retry: { backoff: 50ms, max_backoff: 100ms }
            """)
}

extension BinaryFixture {
    /// Adds `settings` to the configuration's `mqtt:` mapping (written as one flow mapping).
    func rewriteMQTT(_ settings: String) throws {
        let text = try String(contentsOf: config, encoding: .utf8)
        let updated = text.replacingOccurrences(of: ", qos: 1 }", with: ", qos: 1, \(settings) }")
        guard updated != text else { throw TestSupportError("no mqtt mapping to extend in \(config.path)") }
        try updated.write(to: config, atomically: true, encoding: .utf8)
    }
}

/// Retryable refusals, from a broker that answers with a chosen reason code (mosquitto cannot be
/// made to send them on demand).
@Suite(.serialized) struct MQTT5RetryTests {
    @Test func retryableReasonCodesAreRetriedUntilTheUpstreamAccepts() async throws {
        let local = try MosquittoBroker()
        // Quota exceeded, implementation specific, unspecified, packet identifier in use: each
        // means "not now"; the fifth attempt is accepted.
        let upstream = try RefusingBroker(refusals: [0x97, 0x83, 0x80, 0x91])
        defer { upstream.stop() }
        let fixture = try forwardingToV5(name: "v5retry", local: local, upstreamPort: upstream.port)
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(20)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        try await publishReadings(pub, 0..<3)
        #expect(
            await eventually(timeout: .seconds(30)) {
                adminMetric(fixture.admin, #"weir_forwarded_events_total{upstream="cloud"}"#) == 3
            })
        #expect(upstream.refusedPayloads.count == 4)
        #expect(adminMetric(fixture.admin, #"weir_forward_failures_total{upstream="cloud"}"#) >= 4)
        #expect(adminMetric(fixture.admin, #"weir_dead_letters_total{upstream="cloud"}"#) == 0)
        let rows = upstream.acceptedPayloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { $0["data"]?["n"]?.intValue }
        #expect(Set(rows) == [0, 1, 2], "the refused rows were sent again: \(rows)")
        #expect(await eventually { adminMetric(fixture.admin, #"weir_outbox_depth{upstream="cloud"}"#) == 0 })
    }
}

/// What the binary's MQTT 5 connections say on CONNECT, read off the wire.
@Suite(.serialized) struct MQTT5ConnectTests {
    let logRule = "name: l\nsql: SELECT * FROM \"sensors/#\"\nactions: [ { log: {} } ]\n"

    @Test func ingestSendsSessionExpiryReceiveMaximumAndMaximumPacketSize() async throws {
        let broker = try RefusingBroker(refusals: [])
        defer { broker.stop() }
        let fixture = try BinaryFixture(
            name: "v5connect", brokerPort: broker.port, rules: ["l.yaml": logRule],
            extra: "upstreams:\n  cloud:\n    mqtt: { host: 127.0.0.1, port: \(broker.port), protocol: 5 }\n")
        try fixture.rewriteMQTT("protocol: 5, session_expiry: 1h, receive_maximum: 77, max_payload: 64KiB")
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        // The ingest connection's CONNECT: the only one with a packet size (the publisher's speaks
        // 3.1.1, with no properties; the upstream receives nothing).
        #expect(await eventually(timeout: .seconds(20)) { broker.connectProperties.contains { $0[0x27] != nil } })
        let properties = try #require(broker.connectProperties.first { $0[0x27] != nil })
        #expect(properties[0x11] == 3600, "Session Expiry Interval: \(properties)")
        #expect(properties[0x21] == 77, "Receive Maximum")
        #expect(properties[0x27] == UInt32(64 * 1024 + 128 * 1024), "Maximum Packet Size: max_payload and room for topic and properties")
        // The upstream's connection: a persistent session kept 7 days; it receives nothing, so no packet size.
        #expect(await eventually(timeout: .seconds(20)) { broker.connectProperties.contains { $0[0x11] == 604_800 } })
        #expect(broker.connectProperties.first { $0[0x11] == 604_800 }?[0x27] == nil)
    }

    @Test func aCleanSessionAndTheDefaultsSayWhatTheyShould() async throws {
        let broker = try RefusingBroker(refusals: [])
        defer { broker.stop() }
        let fixture = try BinaryFixture(name: "v5clean", brokerPort: broker.port, rules: ["l.yaml": logRule])
        try fixture.rewriteMQTT("protocol: 5, clean_session: true")
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        // The ingest connection's CONNECT (the publisher's connection speaks 3.1.1: no properties).
        #expect(await eventually(timeout: .seconds(20)) { broker.connectProperties.contains { $0[0x21] != nil } })
        let properties = try #require(broker.connectProperties.first { $0[0x21] != nil })
        #expect(properties[0x11] == nil, "a clean session ends at the disconnect: no expiry sent")
        #expect(properties[0x21] == 1000, "the default receive maximum")
        #expect(properties[0x27] == UInt32(256 * 1024 + 128 * 1024))
    }
}
