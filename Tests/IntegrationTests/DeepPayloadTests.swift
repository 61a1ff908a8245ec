import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// A payload at the accepted nesting limit (128 levels) comes back from the store after Weir
/// wrapped it deeper: as a dead letter of a function and of a refused upstream batch.
@Suite(.serialized) struct DeepPayloadTests {
    static let depth = JSONParser.defaultMaxDepth
    /// `{"device":"d1","d":[[…1…]]}`: the object and 127 arrays, 128 levels.
    static let payload = Array(
        (#"{"device":"d1","d":"# + String(repeating: "[", count: depth - 1) + "1" + String(repeating: "]", count: depth - 1) + "}").utf8)

    @Test func aDeadLetterOfADeepRowReadsBack() async throws {
        #expect(try JSONParser.parse(Self.payload) != .null, "accepted at the limit")
        let broker = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 400 })
        defer { sink.stop() }
        let rules = """
            functions:
              - name: notify
                http: { url: "\(sink.url)/x" }
                retry: { attempts: 1 }
            rules:
              - name: r
                sql: SELECT * FROM "sensors/#"
                actions:
                  - call: notify
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["h.yaml": rules])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "sensors/a", payload: Self.payload, qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_dead_letters_total{function="notify"}"#) == 1 })
        let letters = try #require(try weir.daemon.deadLetters?.list())
        #expect(letters.count == 1)
        #expect(letters.first?.payload["row"]?["device"] == "d1")
        try await weir.stop()
    }

    @Test func aRefusedBatchOfDeepRowsIsDeadLetteredReadably() async throws {
        let broker = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 400 })
        defer { sink.stop() }
        let rules = """
            name: r
            sql: SELECT * FROM "sensors/#"
            actions: [ { forward: cloud } ]
            """
        let weir = try await DaemonHarness(
            broker: broker, rules: ["f.yaml": rules],
            extraConfig: "upstreams:\n  cloud:\n    http: { url: \"\(sink.url)/ingest\" }\n    batch: { max_delay: 10ms }\n")
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "sensors/a", payload: Self.payload, qos: 1)
        #expect(await eventually { weir.metric(#"weir_dead_letters_total{upstream="cloud"}"#) == 1 })
        let letters = try #require(try weir.daemon.deadLetters?.list())
        #expect(letters.count == 1 && letters.first?.kind == .upstream)
        #expect(weir.metric(#"weir_outbox_depth{upstream="cloud"}"#) == 0)
        try await weir.stop()
    }
}
