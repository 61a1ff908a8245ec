import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// Priority classes through the real binary: after an outage the alarms go first.
@Suite(.serialized) struct PriorityTests {
    static let rules = """
        rules:
          - name: telemetry
            sql: SELECT device, n FROM "sensors/+/telemetry"
            actions: [ { forward: cloud } ]
          - name: alarm
            sql: SELECT device, n FROM "alarms/+"
            actions: [ { forward: { upstream: cloud, priority: high } } ]
        """

    func events(_ request: HTTPSink.Request) throws -> [JSONValue] {
        guard case .array(let events) = try JSONParser.parse(request.body) else { return [] }
        return events
    }

    @Test func afterAnOutageTheAlarmsAreTheFirstBatch() async throws {
        let local = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 503 })  // the uplink is down
        let fixture = try BinaryFixture(
            name: "prio", brokerPort: local.port, rules: ["prio.yaml": Self.rules],
            extra: """
                upstreams:
                  cloud:
                    http: { url: "\(sink.url)/ingest" }
                    batch: { max_events: 500, max_delay: 10ms }
                    compression: none
                    retry: { backoff: 100ms, max_backoff: 200ms }
                """)
        let weir = try fixture.run()
        defer { weir.stop() }
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? 0
        }
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        for n in 0..<10_000 {
            try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d\#(n % 50)","n":\#(n)}"#.utf8), qos: 1)
            // Ten alarms among the telemetry, the last one after all of it.
            if n % 1000 == 999 { try await pub.publish(topic: "alarms/a1", payload: Array(#"{"device":"a1","n":\#(n)}"#.utf8), qos: 1) }
        }
        #expect(await eventually(timeout: .seconds(60)) { metric(#"weir_actions_run_total{action="forward"}"#) == 10_010 })
        #expect(await eventually { metric(#"weir_outbox_class_depth{upstream="cloud",priority="high"}"#) == 10 })
        #expect(metric(#"weir_outbox_class_depth{upstream="cloud",priority="normal"}"#) == 10_000)
        #expect(metric(#"weir_outbox_depth{upstream="cloud"}"#) == 10_010)

        let (status, output) = try runWeir(["outbox", "stats", "--json", "--config", fixture.config.path], in: fixture.dir)
        #expect(status == 0, "\(output)")
        let stats = try JSONParser.parse(output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(stats["depth"]?.intValue == 10_010)
        #expect(stats["classes"]?[0]?["priority"] == "high")
        #expect(stats["classes"]?[0]?["depth"]?.intValue == 10)
        #expect(stats["classes"]?[1]?["priority"] == "normal")
        #expect(stats["classes"]?[1]?["depth"]?.intValue == 10_000)
        let table = try runWeir(["outbox", "stats", "--config", fixture.config.path], in: fixture.dir).output
        #expect(table.contains("  high") && table.contains("  normal"), "\(table)")

        // The uplink returns.
        let switchedAt = sink.requests.count
        sink.setStatus { $0 >= switchedAt ? 200 : 503 }
        #expect(await eventually(timeout: .seconds(60)) { metric(#"weir_outbox_depth{upstream="cloud"}"#) == 0 })
        let delivered = sink.requests.dropFirst(switchedAt)
        // A retry racing the switch may have got a 503 and come again: the first accepted one counts.
        let first = try #require(delivered.first)
        let alarms = try events(first)
        #expect(alarms.map { $0["type"] } == Array(repeating: "alarm", count: 10), "the first batch is the ten alarms")
        #expect(alarms.compactMap { $0["id"]?.stringValue } == (1...10).map { "prio-high-\($0)" })
        let telemetry = try delivered.dropFirst().flatMap(events)
        var seen = Set<String>()
        let ids = telemetry.compactMap { $0["id"]?.stringValue }.filter { seen.insert($0).inserted }
        #expect(ids == (1...10_000).map { "prio-\($0)" }, "then the telemetry, every row once, in order")
    }
}
