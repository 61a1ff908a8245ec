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
        let weir = try await DaemonHarness(broker: broker, rules: ["avg.yaml": rule], clock: { clock.load(ordering: .relaxed) })
        let inbox = try await Recorder(broker: broker, filters: ["agg/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for (device, site, temp) in [("d1", "s1", 20.0), ("d1", "s1", 22.0), ("d2", "s1", 30.0), ("d1", "s2", 5.0), ("d1", "s1", 24.0)] {
            try await pub.publish(
                topic: "sensors/\(site)/telemetry", payload: Array(#"{"device":"\#(device)","temp":\#(temp)}"#.utf8), qos: 1)
        }
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d1"}"#.utf8), qos: 1)  // no temp: WHERE drops it
        #expect(await eventually { weir.metric(#"weir_window_events_total{rule="avg10"}"#) == 5 })
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
            late:
              - publish: { topic: "late/${device}", qos: 1 }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["et.yaml": rule])
        let inbox = try await Recorder(broker: broker, filters: ["agg/#"])
        let lateBox = try await Recorder(broker: broker, filters: ["late/#"])
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
        #expect(
            try JSONParser.parse(inbox.all[0].payload) == ["device": "d", "n": 2], "the window [00:00, 00:01) closed when 00:02 arrived")
        #expect(
            await eventually { weir.metric(#"weir_window_late_events_total{rule="et"}"#) == 1 }, "00:00.900 came after its window closed")
        #expect(await eventually { lateBox.count == 1 })
        #expect(lateBox.all.first?.topic == "late/d")
        #expect(
            try JSONParser.parse(lateBox.all.first?.payload ?? "null") == ["device": "d", "ts": 1_893_456_000_900],
            "the late event itself goes to the late actions")
        try await weir.stop()
    }
}

@Suite(.serialized) struct WindowReloadTests {
    func rule(window: String, topic: String) -> String {
        """
        name: r
        sql: SELECT device, count(*) AS n FROM "sensors/+/telemetry" GROUP BY device, \(window)
        actions:
          - publish: { topic: "\(topic)/${device}", qos: 1 }
        """
    }

    @Test func reloadKeepsOpenWindowsUnlessTheGroupingChanges() async throws {
        let broker = try MosquittoBroker()
        let clock = Atomic<Int64>(1_800_000_000_000)
        let weir = try await DaemonHarness(
            broker: broker, rules: ["r.yaml": rule(window: "TUMBLING(10s)", topic: "a")], clock: { clock.load(ordering: .relaxed) })
        let inbox = try await Recorder(broker: broker, filters: ["a/#", "b/#", "c/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        func send(_ count: Int) async throws {
            // Counted once the window engine has taken the event, so the clock moves only after.
            let series = #"weir_window_events_total{rule="r"}"#
            let before = weir.metric(series)
            for _ in 0..<count { try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d1"}"#.utf8), qos: 1) }
            #expect(await eventually { weir.metric(series) == before + Double(count) })
        }
        func reload(_ text: String, window: String, topic: String) async throws {
            try text.write(to: weir.rulesDir.appendingPathComponent("r.yaml"), atomically: true, encoding: .utf8)
            // Returns after the change handlers (the window engine's sync) ran, unlike the watcher.
            #expect(weir.daemon.rules.reload(reason: "test"))
            #expect(
                await eventually {
                    guard let rule = weir.daemon.rules.current.rule(named: "r") else { return false }
                    return rule.sql.contains(window) && String(describing: rule.actions).contains(topic)
                })
        }
        try await send(3)
        // Only the action changes: the open window (3 events) is kept.
        try await reload(rule(window: "TUMBLING(10s)", topic: "b"), window: "TUMBLING(10s)", topic: "b/")
        try await send(1)
        clock.store(1_800_000_010_000, ordering: .relaxed)
        #expect(await eventually { inbox.count == 1 })
        #expect(inbox.all.first?.topic == "b/d1")
        let kept = try JSONParser.parse(inbox.all.first?.payload ?? "null")
        #expect(kept == ["device": "d1", "n": 4])

        // The window changes: what was open is discarded, the new window starts empty.
        try await send(2)
        try await reload(rule(window: "TUMBLING(20s)", topic: "c"), window: "TUMBLING(20s)", topic: "c/")
        try await send(1)
        clock.store(1_800_000_020_000, ordering: .relaxed)
        #expect(await eventually { inbox.count == 2 })
        #expect(inbox.all.last?.topic == "c/d1")
        let fresh = try JSONParser.parse(inbox.all.last?.payload ?? "null")
        #expect(fresh == ["device": "d1", "n": 1])
        try await weir.stop()
    }

    @Test func thousandsOfGroupsEachGetTheirRow() async throws {
        let broker = try MosquittoBroker()
        let clock = Atomic<Int64>(1_800_000_000_000)
        let rule = """
            name: many
            sql: SELECT device, sum(v) AS total, count(*) AS n FROM "sensors/+/telemetry" GROUP BY device, TUMBLING(1m)
            max_groups_in_memory: 500
            actions:
              - publish: { topic: "many/${device}", qos: 0 }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["many.yaml": rule], clock: { clock.load(ordering: .relaxed) })
        let inbox = try await Recorder(broker: broker, filters: ["many/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let devices = 3_000
        for round in 0..<2 {
            for d in 0..<devices {
                try await pub.publish(
                    topic: "sensors/s1/telemetry", payload: Array(#"{"device":"dev\#(d)","v":\#(d + round)}"#.utf8), qos: 1)
            }
        }
        #expect(await eventually(timeout: .seconds(30)) { weir.metric(#"weir_window_events_total{rule="many"}"#) == Double(2 * devices) })
        #expect(await eventually { weir.metric(#"weir_window_open_groups{rule="many"}"#) == Double(devices) })
        #expect(
            await eventually { weir.metric(#"weir_window_spilled_groups{rule="many"}"#) >= Double(devices - 500) },
            "most groups wait in the store")
        clock.store(1_800_000_060_000, ordering: .relaxed)
        #expect(await eventually(timeout: .seconds(30)) { inbox.count == devices })
        let totals = try inbox.all.map { try JSONParser.parse($0.payload) }
        #expect(Set(totals.compactMap { $0["device"]?.stringValue }).count == devices)
        #expect(
            totals.allSatisfy { row in
                guard let name = row["device"]?.stringValue, let d = Int(name.dropFirst(3)) else { return false }
                return row["total"]?.intValue == 2 * d + 1 && row["n"] == 2
            })
        try await weir.stop()
    }
}
