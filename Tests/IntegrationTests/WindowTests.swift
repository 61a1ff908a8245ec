import Foundation
import Synchronization
import Testing
import WeirCore
import WeirTestSupport

/// Windowed rules through the real daemon and broker, on a clock the test moves.
@Suite(.serialized) struct WindowTests {
    @Test func tumblingAveragesPerDeviceArePublishedWhenTheWindowCloses() async throws {
        let broker = try MosquittoBroker()
        let clock = Atomic<Int64>(1_800_000_000_000)  // aligned to 10 s
        let rule = """
            name: avg10
            sql: >
              SELECT device, topic(2) AS site, avg(temp) AS temp_avg, count(*) AS n, window_start() AS ws
              FROM "sensors/+/telemetry" WHERE temp IS NOT NULL GROUP BY device, topic(2), TUMBLING(10s)
            actions:
              - publish: { topic: "agg/${site}/${device}", qos: 1 }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["avg.yaml": rule], windowClock: { clock.load(ordering: .relaxed) })
        let inbox = try await Recorder(broker: broker, filters: ["agg/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for (device, site, temp) in [("d1", "s1", 20.0), ("d1", "s1", 22.0), ("d2", "s1", 30.0), ("d1", "s2", 5.0), ("d1", "s1", 24.0)] {
            try await pub.publish(topic: "sensors/\(site)/telemetry", payload: Array(#"{"device":"\#(device)","temp":\#(temp)}"#.utf8), qos: 1)
        }
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d1"}"#.utf8), qos: 1)  // no temp: WHERE drops it
        #expect(await eventually { weir.metric("weir_events_in_total") == 6 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(inbox.count == 0, "nothing before the window closes")

        clock.store(1_800_000_010_000, ordering: .relaxed)
        #expect(await eventually { inbox.count == 3 })
        let rows = Dictionary(uniqueKeysWithValues: try inbox.all.map { ($0.topic, try JSONParser.parse($0.payload)) })
        #expect(rows["agg/s1/d1"] == ["device": "d1", "site": "s1", "temp_avg": 22.0, "n": 3, "ws": 1_800_000_000_000])
        #expect(rows["agg/s1/d2"] == ["device": "d2", "site": "s1", "temp_avg": 30.0, "n": 1, "ws": 1_800_000_000_000])
        #expect(rows["agg/s2/d1"] == ["device": "d1", "site": "s2", "temp_avg": 5.0, "n": 1, "ws": 1_800_000_000_000])
        #expect(weir.metric(#"weir_window_open_groups{rule="avg10"}"#) == 0)
        try await weir.stop()
    }

    @Test func lateEventTimeReadingsAreCountedAndDropped() async throws {
        let broker = try MosquittoBroker()
        let rule = """
            name: et
            sql: SELECT device, count(*) AS n FROM "m/#" GROUP BY device, TUMBLING(1s)
            event_time: { field: ts, lateness: 0s, idle_timeout: 1h }
            actions:
              - publish: { topic: "agg/${device}", qos: 1 }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["et.yaml": rule])
        let inbox = try await Recorder(broker: broker, filters: ["agg/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        // Broken device clocks are counted against the rule, never crash the window arithmetic.
        for ts in ["9223372036854775807", "-1", #""yesterday""#, "1e300"] {
            try await pub.publish(topic: "m/x", payload: Array(#"{"device":"d","ts":\#(ts)}"#.utf8), qos: 1)
        }
        #expect(await eventually { weir.metric(#"weir_rule_errors_total{rule="et"}"#) == 4 })
        // Event times in 2030 (RFC 3339 and epoch ms): the watermark follows them, not the clock.
        let readings = [#""2030-01-01T00:00:00.100Z""#, "1893456000500", #""2030-01-01T00:00:02.000Z""#, "1893456000900"]
        for ts in readings {
            try await pub.publish(topic: "m/x", payload: Array(#"{"device":"d","ts":\#(ts)}"#.utf8), qos: 1)
        }
        #expect(await eventually { inbox.count == 1 })
        #expect(try JSONParser.parse(inbox.all[0].payload) == ["device": "d", "n": 2], "the window [00:00, 00:01) closed when 00:02 arrived")
        #expect(await eventually { weir.metric(#"weir_window_late_events_total{rule="et"}"#) == 1 }, "00:00.900 came after its window closed")
        try await weir.stop()
    }
}
