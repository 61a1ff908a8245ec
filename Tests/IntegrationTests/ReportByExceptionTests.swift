import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// Report by exception through the real binary: `changed(temp, 0.5, 5m) OVER (PARTITION BY
/// device)` forwards a reading only when it moved by the deadband, and its partitions survive a
/// kill -9.
@Suite(.serialized) struct ReportByExceptionTests {
    static let rule = """
        name: rbe
        sql: >-
          SELECT device, temp, lag(temp) OVER (PARTITION BY device) AS previous FROM "sensors/+/telemetry"
          WHERE changed(temp, 0.5, 5m) OVER (PARTITION BY device)
        actions:
          - publish: { topic: "reported/${device}", qos: 1 }
        """

    @Test func aReadingUnderTheDeadbandIsSuppressedAlsoAfterAKill() async throws {
        let broker = try MosquittoBroker()
        let fixture = try BinaryFixture(name: "rbe", brokerPort: broker.port, rules: ["rbe.yaml": Self.rule])
        let recorder = try await Recorder(broker: broker, filters: ["reported/#"])
        var weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? 0
        }
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        func send(_ device: String, _ temp: Double) async throws {
            try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"\#(device)","temp":\#(temp)}"#.utf8), qos: 1)
        }
        func reported() throws -> [JSONValue] { try recorder.all.map { try JSONParser.parse($0.payload) } }

        try await send("d1", 20.0)  // the first reading: reported
        try await send("d1", 20.3)  // 0.3 from 20.0: suppressed
        try await send("d1", 20.6)  // 0.6 from 20.0: reported
        #expect(await eventually { metric("weir_events_in_total") == 3 && recorder.count == 2 })
        #expect(try reported().map { $0["temp"] } == [20.0, 20.6])
        // lag sees every reading, suppressed ones included.
        #expect(try reported().map { $0["previous"] } == [.null, 20.3])
        // The three steps are checkpointed: the kill cannot lose them.
        #expect(await eventually { metric("weir_partition_steps_saved_total") >= 3 })

        weir.stop(signal: SIGKILL)
        weir = try fixture.run(log: "weir-2.log")
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        try await send("d1", 20.9)  // 0.3 from the last reported 20.6: still suppressed after the restart
        try await send("d1", 21.2)  // 0.6 from 20.6: reported, and lag remembers 20.9
        try await send("d2", 5)  // another device's first reading
        #expect(await eventually { metric("weir_events_in_total") == 3 && recorder.count == 4 })
        let after = try reported().suffix(2)
        #expect(after.map { $0["temp"] } == [21.2, 5.0])
        #expect(after.map { $0["previous"] } == [20.9, .null])
        #expect(await eventually { metric(#"weir_rule_partitions{rule="rbe"}"#) == 2 })
    }
}
