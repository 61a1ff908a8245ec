import Foundation
import Logging
import Testing
import WeirCore
import WeirMQTT
import WeirTestSupport

/// Two `weir` binaries in one share group on one mosquitto, forwarding to a "cloud" broker.
struct SharedPair {
    let local: MosquittoBroker
    let cloud: MosquittoBroker
    let inbox: Recorder
    let fixtures: [BinaryFixture]

    init() async throws {
        local = try MosquittoBroker()
        cloud = try MosquittoBroker()
        inbox = try await Recorder(broker: cloud, filters: ["weir/#"], persistentID: "cloud-rec-\(UUID().uuidString.prefix(6))")
        let rule = """
            name: fwd
            sql: SELECT seq FROM "dev/+/tele"
            actions:
              - forward: cloud
            """
        let (local, cloud) = (self.local, self.cloud)
        fixtures = try ["sa", "sb"].map { name in
            let fixture = try BinaryFixture(
                name: name, brokerPort: local.port, rules: ["fwd.yaml": rule],
                extra: """
                    upstreams:
                      cloud:
                        mqtt: { host: 127.0.0.1, port: \(cloud.port) }
                        batch: { max_events: 500, max_delay: 20ms }
                    """)
            try fixture.rewriteMQTT("protocol: 5, share_group: weir")
            return fixture
        }
    }

    /// Starts `fixture`'s binary and waits until it has subscribed (`/healthz` answers 200 once
    /// ingest is connected and subscribed): before that the group would not count it.
    static func start(_ fixture: BinaryFixture, log: String = "weir.log") async throws -> ChildProcess {
        let weir = try fixture.run(log: log)
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        return weir
    }

    /// Every forwarded row as (gateway, seq), duplicates included.
    func rows() -> [(gateway: String, seq: Int)] {
        inbox.payloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { event in
            guard let source = event["source"]?.stringValue, let seq = event["data"]?["seq"]?.intValue else { return nil }
            // weir://<gateway_id>/<rule>
            return (String(source.dropFirst("weir://".count).prefix { $0 != "/" }), Int(seq))
        }
    }
}

/// Publishes `seq` 1...`total` at QoS 1 on `dev/d<seq % 10>/tele`, `chunk` at a time, each chunk
/// awaiting its PUBACKs; `between(i)` runs after chunk `i` (the fault injection point).
func publishNumbered(_ broker: MosquittoBroker, total: Int, chunk: Int = 500, between: (Int) async throws -> Void = { _ in }) async throws {
    let client = try MQTTClient(
        configuration: MQTTConfiguration(
            port: broker.port, clientID: "pub-\(UUID().uuidString.prefix(8))", cleanSession: true, maxInflight: 1000),
        logger: Logger(label: "pub"))
    defer { client.shutdown() }
    client.start()
    await client.waitUntilReady()
    var seq = 0
    var index = 0
    while seq < total {
        var latches: [AsyncLatch<Void>] = []
        for _ in 0..<min(chunk, total - seq) {
            seq += 1
            latches.append(
                try client.enqueuePublish(topic: "dev/d\(seq % 10)/tele", payload: Array(#"{"seq":\#(seq)}"#.utf8), qos: 1))
        }
        for latch in latches { try await latch.value }
        try await between(index)
        index += 1
    }
}

@Suite(.serialized) struct SharedSubscriptionTests {
    static let total = 20_000

    @Test func checkSaysWhatEachInstanceNeedsAndWarnsForWindowsUnderAShareGroup() throws {
        let rules = [
            "fwd.yaml": "name: fwd\nsql: SELECT seq FROM \"dev/+/tele\"\nactions: [ { log: {} } ]\n",
            "avg.yaml": """
            name: avg
            sql: SELECT device, avg(t) AS t FROM "dev/+/tele" GROUP BY device, TUMBLING(10s)
            actions: [ { log: {} } ]
            """,
            "rbe.yaml": """
            name: rbe
            sql: SELECT device FROM "dev/+/tele" WHERE changed(t, 0.5) OVER (PARTITION BY device)
            actions: [ { log: {} } ]
            """,
        ]
        let shared = try BinaryFixture(name: "chk", brokerPort: 1883, rules: rules)
        try shared.rewriteMQTT("share_group: weir")
        let check = try runWeir(["check", "--config", shared.config.path], in: shared.dir)
        #expect(check.status == 0, "warnings do not fail the check: \(check.output)")
        #expect(check.output.contains("note: mqtt.share_group 'weir' subscribes to $share/weir/<filter>"), "\(check.output)")
        #expect(check.output.contains("its own gateway_id"))
        #expect(check.output.contains("its own mqtt.client_id"))
        #expect(check.output.contains("its own state_dir"))
        #expect(check.output.contains("avg.yaml:1:1: warning: rule 'avg' keeps windows (GROUP BY) under mqtt.share_group 'weir'"))
        #expect(!check.output.contains("rule 'fwd' keeps windows"))
        #expect(check.output.contains("rbe.yaml:1:1: warning: rule 'rbe' keeps history per partition (changed) under mqtt.share_group"))
        #expect(!check.output.contains("rule 'fwd' keeps history"))
        // Without a share group, neither.
        let alone = try BinaryFixture(name: "chk1", brokerPort: 1883, rules: rules)
        let plain = try runWeir(["check", "--config", alone.config.path], in: alone.dir)
        #expect(plain.status == 0)
        #expect(!plain.output.contains("share_group"), "\(plain.output)")
        #expect(!plain.output.contains("session_expiry"))
        // MQTT 5 with a persistent session that would end at every disconnect.
        try alone.rewriteMQTT("protocol: 5, session_expiry: 0s")
        let expiring = try runWeir(["check", "--config", alone.config.path], in: alone.dir)
        #expect(expiring.output.contains("warning: mqtt.session_expiry 0 with protocol 5"), "\(expiring.output)")
    }

    @Test func twoInstancesInAShareGroupProcessEveryEventExactlyOnceBetweenThem() async throws {
        let pair = try await SharedPair()
        let a = try await SharedPair.start(pair.fixtures[0])
        defer { a.stop() }
        let b = try await SharedPair.start(pair.fixtures[1])
        defer { b.stop() }
        try await publishNumbered(pair.local, total: Self.total)
        var rows: [(gateway: String, seq: Int)] = []
        #expect(
            await eventually(timeout: .seconds(120)) {
                rows = pair.rows()
                return rows.count >= Self.total
            }, "forwarded \(rows.count) of \(Self.total)")
        let seqs = rows.map(\.seq)
        #expect(Set(seqs) == Set(1...Self.total), "every event processed")
        #expect(seqs.count == Self.total, "exactly once across the two: \(seqs.count - Set(seqs).count) duplicates")
        let shares = Dictionary(grouping: rows, by: \.gateway).mapValues(\.count)
        #expect(Set(shares.keys) == ["sa", "sb"])
        for (gateway, count) in shares {
            #expect(count >= Self.total / 5, "\(gateway) got a real share: \(shares)")
        }
        // What each read from the broker is what it forwarded: no event reached both.
        for (fixture, gateway) in zip(pair.fixtures, ["sa", "sb"]) {
            #expect(Int(adminMetric(fixture.admin, "weir_events_in_total")) == shares[gateway], "\(gateway)")
        }
    }

    @Test func aKilledInstanceRestartedAtOnceLosesNothing() async throws {
        let pair = try await SharedPair()
        var a = try await SharedPair.start(pair.fixtures[0], log: "weir-0.log")
        let b = try await SharedPair.start(pair.fixtures[1])
        defer { b.stop() }
        try await publishNumbered(pair.local, total: Self.total) { chunk in
            guard chunk == 14 else { return }
            // Mid-run: a has events in flight, in its buffer and in its outbox.
            a.stop(signal: SIGKILL)
            a = try pair.fixtures[0].run(log: "weir-1.log")
        }
        defer { a.stop() }
        var rows: [(gateway: String, seq: Int)] = []
        let complete = await eventually(timeout: .seconds(180)) {
            rows = pair.rows()
            return Set(rows.map(\.seq)).count >= Self.total
        }
        let missing = Set(1...Self.total).subtracting(rows.map(\.seq))
        #expect(complete, "\(missing.count) events lost, e.g. \(missing.sorted().prefix(10))")
        #expect(Set(rows.map(\.seq)) == Set(1...Self.total))
        let shares = Dictionary(grouping: rows, by: \.gateway).mapValues(\.count)
        #expect(Set(shares.keys) == ["sa", "sb"], "\(shares)")
        // The killed instance had a share both before the kill (7,500 published by then) and after.
        let killed = rows.filter { $0.gateway == "sa" }.map(\.seq)
        #expect(killed.contains { $0 <= 7_500 } && killed.contains { $0 > 7_500 }, "sa: \(killed.count) rows")
    }
}
