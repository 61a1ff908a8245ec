import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// A device cannot stall ingest with a value that makes a rule's regular expression backtrack
/// for ever (issue 11): the match gives up at its bound, the event counts as a rule error, and
/// the events behind it flow. Patterns computed per event work too (compiled once each).
@Suite(.serialized) struct RegexCostTests {
    @Test func aCatastrophicInputIsARuleErrorNotAStall() async throws {
        let broker = try MosquittoBroker()
        let rules = """
            rules:
              - name: shape
                sql: SELECT device FROM "sensors/+/serial" WHERE regex_match(s, '^(a+)+$')
                actions:
                  - publish: { topic: "ok/${device}", qos: 1 }
              - name: dynamic
                sql: SELECT device FROM "sensors/+/custom" WHERE regex_match(s, p)
                actions:
                  - publish: { topic: "ok/${device}", qos: 1 }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["r.yaml": rules])
        let recorder = try await Recorder(broker: broker, filters: ["ok/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let hostile = String(repeating: "a", count: 40) + "!"
        let started = ContinuousClock.now
        try await pub.publish(topic: "sensors/x/serial", payload: Array(#"{"device":"evil","s":"\#(hostile)"}"#.utf8), qos: 1)
        try await pub.publish(
            topic: "sensors/x/custom", payload: Array(#"{"device":"evil2","s":"\#(hostile)","p":"^(a|aa)+$"}"#.utf8), qos: 1)
        try await pub.publish(topic: "sensors/x/serial", payload: Array(#"{"device":"good","s":"aaaa"}"#.utf8), qos: 1)
        try await pub.publish(topic: "sensors/x/custom", payload: Array(#"{"device":"good2","s":"dev-7","p":"^dev-[0-9]+$"}"#.utf8), qos: 1)
        #expect(await eventually { recorder.count == 2 })
        #expect(ContinuousClock.now - started < .seconds(20), "the hostile values did not stall the events behind them")
        #expect(Set(recorder.log.entries.withLock { $0.map(\.topic) }) == ["ok/good", "ok/good2"])
        #expect(await eventually { weir.metric(#"weir_rule_errors_total{rule="shape"}"#) == 1 })
        #expect(weir.metric(#"weir_rule_errors_total{rule="dynamic"}"#) == 1)
        recorder.client.shutdown()
        try await weir.stop()
    }
}
