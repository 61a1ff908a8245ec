import Foundation
import Testing
import WeirCore
import WeirTestSupport

let overheatRule = """
    name: overheat
    sql: SELECT device, temp, topic(2) AS site FROM "sensors/+/telemetry" WHERE temp > 80
    actions:
      - publish: { topic: "alerts/${site}/${device}", qos: 1, retain: false }
      - log: {}
    """

@Suite(.serialized) struct EventPathTests {
    @Test func eventInMatchingPublishOut() async throws {
        let broker = try MosquittoBroker()
        let weir = try await DaemonHarness(broker: broker, rules: ["overheat.yaml": overheatRule])
        let alerts = try await Recorder(broker: broker, filters: ["alerts/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d1","temp":85.5}"#.utf8), qos: 1)
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d2","temp":70}"#.utf8), qos: 1)
        try await pub.publish(topic: "sensors/s2/status", payload: Array(#"{"device":"d3","temp":99}"#.utf8), qos: 1)
        #expect(await eventually { alerts.count >= 1 })
        // sensors/s2/status matches no rule's filter, so the broker never delivers it.
        #expect(await eventually { weir.metric("weir_events_in_total") == 2 })
        #expect(
            await eventually {
                weir.metric(#"weir_actions_run_total{action="publish"}"#) == 1 && weir.metric(#"weir_actions_run_total{action="log"}"#) == 1
            })
        try await Task.sleep(for: .milliseconds(200))  // room for anything extra to show up
        #expect(alerts.all.map(\.topic) == ["alerts/s1/d1"])
        #expect(alerts.all.first?.payload == #"{"device":"d1","temp":85.5,"site":"s1"}"#)
        #expect(weir.metric(#"weir_rule_matched_total{rule="overheat"}"#) == 1)
        #expect(weir.metric(#"weir_actions_run_total{action="publish"}"#) == 1)
        #expect(weir.metric(#"weir_actions_run_total{action="log"}"#) == 1)
        #expect(weir.metric("weir_mqtt_connected") == 1)
        // Admin endpoint serves the same registry.
        let port = try #require(await weir.daemon.admin?.boundPort())
        let metrics = try httpGet(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metricValue(metrics.body, "weir_events_in_total") == 2)
        let health = try httpGet(port: port, path: "/healthz")
        #expect(health.status == 200)
        #expect(health.body.contains(#""mqtt_connected":true"#))
        #expect(try httpGet(port: port, path: "/nope").status == 404)
        try await weir.stop()
    }

    @Test func wildcardRouting() async throws {
        let broker = try MosquittoBroker()
        let rules = """
            rules:
              - { name: plus, sql: 'SELECT topic() AS t FROM "a/+/x"', actions: [ { publish: { topic: "out/plus", qos: 1 } } ] }
              - { name: hash, sql: 'SELECT topic() AS t FROM "a/#"', actions: [ { publish: { topic: "out/hash", qos: 1 } } ] }
              - { name: two, sql: 'SELECT topic() AS t FROM "b/+", "c/#"', actions: [ { publish: { topic: "out/two", qos: 1 } } ] }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["r.yaml": rules])
        let out = try await Recorder(broker: broker, filters: ["out/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for topic in ["a/1/x", "a", "a/1/y", "b/1", "b/1/2", "c", "c/d/e", "d/a"] {
            try await pub.publish(topic: topic, payload: Array("{}".utf8), qos: 1)
        }
        // b/1/2 and d/a match no filter and are never delivered.
        #expect(await eventually { weir.metric("weir_events_in_total") == 6 })
        // a/1/x: plus+hash; a: hash; a/1/y: hash; b/1: two; c: two; c/d/e: two. b/1/2 and d/a match nothing.
        #expect(await eventually { out.count == 7 })
        try await Task.sleep(for: .milliseconds(200))
        let got = out.all.map { "\($0.topic) \($0.payload)" }.sorted()
        #expect(
            got == [
                #"out/hash {"t":"a"}"#, #"out/hash {"t":"a/1/x"}"#, #"out/hash {"t":"a/1/y"}"#,
                #"out/plus {"t":"a/1/x"}"#,
                #"out/two {"t":"b/1"}"#, #"out/two {"t":"c"}"#, #"out/two {"t":"c/d/e"}"#,
            ])
        #expect(weir.metric("weir_events_unmatched_total") == 0, "d/a is not subscribed at all")
        try await weir.stop()
    }

    @Test func badPayloadsAreCountedAndGoodEventsKeepFlowing() async throws {
        let broker = try MosquittoBroker()
        let weir = try await DaemonHarness(broker: broker, rules: ["overheat.yaml": overheatRule])
        let alerts = try await Recorder(broker: broker, filters: ["alerts/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let bad: [[UInt8]] = [
            Array("not json at all".utf8),
            Array(repeating: UInt8(ascii: " "), count: 1_048_576),
            Array((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8),
            [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D],
            [],
            Array(#"{"device":"x","temp":"very hot"}"#.utf8),
        ]
        for (i, payload) in bad.enumerated() {
            try await pub.publish(topic: "sensors/s1/telemetry", payload: payload, qos: 1)
            try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"good\#(i)","temp":90}"#.utf8), qos: 1)
        }
        #expect(await eventually { alerts.count == bad.count })
        #expect(Set(alerts.all.map(\.topic)) == Set((0..<bad.count).map { "alerts/s1/good\($0)" }))
        #expect(weir.metric(#"weir_events_invalid_total{reason="not_json"}"#) == 3)
        #expect(weir.metric(#"weir_events_invalid_total{reason="too_large"}"#) == 1)
        #expect(weir.metric(#"weir_events_invalid_total{reason="empty"}"#) == 1)
        #expect(weir.metric(#"weir_rule_errors_total{rule="overheat"}"#) == 1)
        try await weir.stop()
    }
}
