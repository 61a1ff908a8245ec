import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// A device cannot publish outside a rule's topic template (issue 11): a NUL that libmosquitto
/// would cut the topic at, a wildcard, or a `$` topic; refused events are counted, others flow.
@Suite(.serialized) struct TopicInjectionTests {
    @Test func valuesThatWouldLeaveTheTemplateAreRefusedAndCounted() async throws {
        let broker = try MosquittoBroker()
        let rules = """
            rules:
              - name: hot
                sql: SELECT device, temp FROM "sensors/+/telemetry" WHERE temp > 80
                actions:
                  - publish: { topic: "alerts/${device}/hot", qos: 1 }
              - name: mirror
                sql: SELECT * FROM "mirror/+"
                actions:
                  - publish: { topic: "${path}/copy", qos: 1 }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["r.yaml": rules])
        let recorder = try await Recorder(broker: broker, filters: ["#", "$SYS/broker/x/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let hostile = [#""evil\u0000x""#, #""a+b""#, #""x/#""#]
        for device in hostile {
            try await pub.publish(topic: "sensors/s/telemetry", payload: Array(#"{"device":\#(device),"temp":91}"#.utf8), qos: 1)
        }
        try await pub.publish(topic: "mirror/a", payload: Array(#"{"path":"$SYS/broker/x"}"#.utf8), qos: 1)
        // Good events still flow, a '/' in a value included.
        try await pub.publish(topic: "sensors/s/telemetry", payload: Array(#"{"device":"valve-7/cmd","temp":91}"#.utf8), qos: 1)
        try await pub.publish(topic: "mirror/b", payload: Array(#"{"path":"site/1"}"#.utf8), qos: 1)
        #expect(await eventually { recorder.topics.contains("alerts/valve-7/cmd/hot") && recorder.topics.contains("site/1/copy") })
        #expect(await eventually { weir.metric(#"weir_actions_failed_total{action="publish",reason="topic"}"#) == 4 })
        #expect(weir.metric(#"weir_actions_failed_total{action="publish"}"#) == 0)
        let outside = recorder.topics.filter { !$0.hasPrefix("sensors/") && !$0.hasPrefix("mirror/") }
        #expect(Set(outside) == ["alerts/valve-7/cmd/hot", "site/1/copy"], "nothing else was published: \(outside)")
        // Each refused row is kept as a dead letter (kind publish), with the template and its row.
        let letters = try #require(weir.daemon.deadLetters).list()
        #expect(letters.count == 4)
        #expect(letters.allSatisfy { $0.kind == .publish })
        #expect(Set(letters.map(\.target)) == ["alerts/${device}/hot", "${path}/copy"])
        #expect(letters.contains { $0.payload["row"]?["device"]?.stringValue == "evil\u{0}x" && $0.payload["rule"] == "hot" })
        recorder.client.shutdown()
        try await weir.stop()
    }
}

extension Recorder {
    var topics: [String] { log.entries.withLock { $0.map(\.topic) } }
}
