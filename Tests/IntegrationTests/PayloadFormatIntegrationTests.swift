import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `format: binary` and `format: text` through the real `weir` binary and a real broker: the
/// shipped binary-sensor example decodes a packed frame into the right row, a plain-number
/// payload is `value`, and payloads that fit no rule's format are counted per reason.
@Suite(.serialized) struct PayloadFormatIntegrationTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../rules/examples/binary-sensor.yaml")

    @Test func aPackedFrameDecodesIntoTheRightRow() async throws {
        let broker = try MosquittoBroker()
        let binaryRule = try String(contentsOf: Self.example, encoding: .utf8)
        let textRule = """
            name: plain-number
            format: text
            sql: SELECT topic(2) AS sensor, value, payload() AS raw FROM "plain/+" WHERE value > 20
            actions:
              - publish: { topic: "decoded/plain/${sensor}", qos: 1 }
            """
        let fixture = try BinaryFixture(
            name: "formats", brokerPort: broker.port, rules: ["binary-sensor.yaml": binaryRule, "plain.yaml": textRule])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let recorder = try await Recorder(broker: broker, filters: ["decoded/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }

        // device 258, 23.5 °C, 55 %, 3596 mV (little-endian), 1013.25 hPa (float32).
        let frame: [UInt8] = [0x01, 0x02, 0x00, 0xEB, 0x37, 0x0C, 0x0E, 0x44, 0x7D, 0x50, 0x00]
        try await pub.publish(topic: "lora/site-1/uplink", payload: frame, qos: 1)
        try await pub.publish(topic: "plain/t1", payload: Array("23.5".utf8), qos: 1)
        try await pub.publish(topic: "plain/t1", payload: Array("19".utf8), qos: 1)
        // Not UTF-8: the text rule cannot read it, and it is counted as not_text.
        try await pub.publish(topic: "plain/t1", payload: [0xFF, 0xFE], qos: 1)
        // A short frame fails the binary rule (counted against it), it is not invalid.
        try await pub.publish(topic: "lora/site-1/uplink", payload: [0x01, 0x02], qos: 1)
        #expect(await eventually(timeout: .seconds(30)) { recorder.count >= 2 })
        #expect(
            await eventually(timeout: .seconds(30)) {
                let metrics = Loopback.httpGet(port: fixture.admin, path: "/metrics")?.body ?? ""
                return Loopback.metricValue(metrics, #"weir_events_invalid_total{reason="not_text"}"#) == 1
                    && Loopback.metricValue(metrics, #"weir_rule_errors_total{rule="binary-sensor"}"#) == 1
            })

        let byTopic = Dictionary(recorder.all.map { ($0.topic, $0.payload) }) { first, _ in first }
        let row = try JSONParser.parse(Array(try #require(byTopic["decoded/site-1/258"]).utf8))
        #expect(
            row == [
                "site": "site-1", "device": 258, "temp": 23.5, "humidity": 55, "battery_mv": 3596, "pressure": 1013.3,
                "raw": "010200eb370c0e447d5000",
            ])
        let plain = try JSONParser.parse(Array(try #require(byTopic["decoded/plain/t1"]).utf8))
        #expect(plain == ["sensor": "t1", "value": 23.5, "raw": "23.5"])
        #expect(recorder.count == 2, "19 is under the threshold; the others fail")
        _ = weir.stop()
    }
}
