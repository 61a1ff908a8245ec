import Foundation
import Testing
import WeirCore
import WeirTestSupport

@Suite(.serialized) struct CrashTests {
    /// kill -9 of the real binary, repeatedly, while rows are being forwarded into an outbox whose
    /// upstream is down: every row whose `forward` action had completed before a kill is delivered
    /// once the upstream appears (duplicates allowed, checked by event id).
    @Test func killNineLosesNothingThatWasDurablyAccepted() async throws {
        let local = try MosquittoBroker()
        let cloudPort = try freeLoopbackPort()
        let fixture = try BinaryFixture(
            name: "crash", brokerPort: local.port, rules: ["fwd.yaml": forwardRule],
            extra: """
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloudPort) }
                    batch: { max_events: 100, max_delay: 20ms }
                """)
        let admin = fixture.admin
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        func forwarded() -> Int {
            Int(
                Loopback.httpGet(port: admin, path: "/metrics").flatMap {
                    Loopback.metricValue($0.body, #"weir_actions_run_total{action="forward"}"#)
                } ?? 0)
        }

        var acceptedBeforeKills = 0
        for round in 0..<3 {
            let weir = try fixture.run(log: "weir-\(round).log")
            #expect(await eventually { Loopback.httpGet(port: admin, path: "/healthz")?.status == 200 })
            let traffic = Task {
                for n in (round * 400)..<(round * 400 + 400) {
                    try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":\#(n)}"#.utf8), qos: 1)
                }
            }
            #expect(await eventually { forwarded() >= 150 })
            // Whatever the counter shows has completed: it is durable. Kill right after reading it.
            let accepted = forwarded()
            weir.stop(signal: SIGKILL)
            try await traffic.value
            acceptedBeforeKills += accepted
        }
        // The upstream appears; a fresh process drains the backlog, including what the broker kept
        // for Weir's persistent session while it was dead.
        let cloud = try MosquittoBroker(port: cloudPort)
        let inbox = try await Recorder(broker: cloud, filters: ["weir/#"])
        let weir = try fixture.run(log: "weir-final.log")
        defer { weir.stop() }
        var ids = Set<Int>()
        let drained = await eventually(timeout: .seconds(30)) {
            ids = Set(
                inbox.payloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { $0["id"]?.stringValue }.compactMap {
                    Int($0.split(separator: "-").last!)
                })
            return ids.count >= acceptedBeforeKills
        }
        #expect(drained, "delivered \(ids.count), accepted before the kills \(acceptedBeforeKills)")
        // Sequence numbers are dense per outbox: 1...max with nothing missing.
        #expect(ids == Set(1...(ids.max() ?? 0)))
        #expect(ids.count >= acceptedBeforeKills)
    }

    /// kill -9 in the middle of a window: after the restart the window's row counts the events
    /// from before the crash too (event time, so the test decides when the window closes).
    @Test func windowStateSurvivesKillNine() async throws {
        let broker = try MosquittoBroker()
        let rule = """
            name: sum10
            sql: SELECT device, count(*) AS n, sum(v) AS total FROM "m/#" GROUP BY device, TUMBLING(10s)
            event_time: { field: ts, lateness: 0s, idle_timeout: 1h }
            actions:
              - publish: { topic: "agg/${device}", qos: 1 }
            """
        let fixture = try BinaryFixture(name: "wcrash", brokerPort: broker.port, rules: ["sum.yaml": rule])
        let inbox = try await Recorder(broker: broker, filters: ["agg/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? 0
        }
        let base: Int64 = 1_900_000_000_000  // a 10 s boundary
        let first = try fixture.run(log: "first.log")
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        for i in 0..<5 {
            try await pub.publish(topic: "m/a", payload: Array(#"{"device":"d1","v":\#(i),"ts":\#(base + Int64(i) * 100)}"#.utf8), qos: 1)
        }
        try await pub.publish(topic: "m/a", payload: Array(#"{"device":"d2","v":100,"ts":\#(base + 900)}"#.utf8), qos: 1)
        #expect(await eventually { metric("weir_window_events_saved_total") == 6 }, "every event's effect on its window is durable")
        first.stop(signal: SIGKILL)

        let second = try fixture.run(log: "second.log")
        defer { second.stop() }
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        try await pub.publish(topic: "m/a", payload: Array(#"{"device":"d1","v":10,"ts":\#(base + 5_000)}"#.utf8), qos: 1)
        #expect(inbox.count == 0)
        // An event in the next window moves the watermark past the first one: it closes.
        try await pub.publish(topic: "m/a", payload: Array(#"{"device":"d1","v":0,"ts":\#(base + 10_000)}"#.utf8), qos: 1)
        #expect(await eventually { inbox.count == 2 })
        let rows = Dictionary(uniqueKeysWithValues: try inbox.all.map { ($0.topic, try JSONParser.parse($0.payload)) })
        #expect(rows["agg/d1"] == ["device": "d1", "n": 6, "total": 20], "0+1+2+3+4 before the crash, 10 after")
        #expect(rows["agg/d2"] == ["device": "d2", "n": 1, "total": 100])
        let log = try String(contentsOf: fixture.dir.appendingPathComponent("second.log"), encoding: .utf8)
        #expect(log.contains("open windows resumed"))
    }
}
