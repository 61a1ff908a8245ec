import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// An MQTT upstream whose broker limits message size: mosquitto 2.0 acknowledges an oversized
/// QoS 1 publish on MQTT 3.1.1 and drops it, so a batch over the limit was lost while counting as
/// delivered. With `batch.max_bytes` under the broker's limit, no batch is larger than it, and the
/// one row that alone encodes larger goes to dead letters instead.
@Suite(.serialized) struct UpstreamSizeLimitTests {
    @Test func noBatchIsLargerThanMaxBytesAndAnOversizedRowIsDeadLettered() async throws {
        let local = try MosquittoBroker()
        let cloud = try MosquittoBroker(listenerOptions: "message_size_limit 4096")
        let rule = """
            name: fwd
            sql: SELECT device, n, pad FROM "sensors/+/telemetry"
            actions:
              - forward: cloud
            """
        let weir = try await DaemonHarness(
            broker: local, rules: ["fwd.yaml": rule],
            extraConfig: """
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloud.port), topic: "weir/${gateway_id}/events" }
                    batch: { max_events: 500, max_bytes: 4000, max_delay: 200ms }
                    compression: none
                """)
        let inbox = try await Recorder(broker: cloud, filters: ["weir/#"], persistentID: "cloud-consumer")
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        let total = 60
        for n in 0..<total {
            // Row 30 alone encodes past 4,000 bytes; the others are about 300 bytes each.
            let pad = String(repeating: "p", count: n == 30 ? 5000 : 100)
            try await pub.publish(
                topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":\#(n),"pad":"\#(pad)"}"#.utf8), qos: 1)
        }
        var numbers: [Int] = []
        let delivered = await eventually(timeout: .seconds(30)) {
            numbers = inbox.payloads.flatMap { payload -> [JSONValue] in
                guard case .array(let events)? = try? JSONParser.parse(payload) else { return [] }
                return events
            }.compactMap { $0["data"]?["n"]?.intValue }
            return Set(numbers).count == total - 1
        }
        #expect(delivered, "got \(Set(numbers).count) of \(total - 1): \(numbers)")
        #expect(!numbers.contains(30))
        #expect(inbox.payloads.allSatisfy { $0.count <= 4000 }, "\(inbox.payloads.map(\.count))")
        #expect(inbox.payloads.count > 1)
        #expect(await eventually { weir.metric(#"weir_dead_letters_total{upstream="cloud"}"#) == 1 })
        let letters = try #require(weir.daemon.deadLetters).list()
        #expect(letters.count == 1)
        #expect(letters.first?.error.contains("batch.max_bytes") == true)
        try await weir.stop()
    }
}
