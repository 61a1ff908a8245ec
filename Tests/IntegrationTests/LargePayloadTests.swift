import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// Ten 40 MB payloads through the real `weir run` (issue 11): Weir checks `mqtt.max_payload`
/// before copying a payload out of libmosquitto, so the burst is counted as too large, good events
/// keep flowing, and the daemon's RSS comes back near where it was (it peaked at 134-152 MiB
/// when each payload was copied, twice, before the check).
@Suite(.serialized) struct LargePayloadTests {
    /// `VmRSS` (or `VmHWM`, the peak) of `pid`, in KiB.
    static func memoryKiB(_ pid: pid_t, _ field: String = "VmRSS") -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }

    @Test func aBurstOfFortyMegabytePayloadsIsCountedAndGoodEventsFlow() async throws {
        let broker = try MosquittoBroker()
        let fixture = try BinaryFixture(name: "big", brokerPort: broker.port, rules: ["overheat.yaml": overheatRule])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? 0
        }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let alerts = try await Recorder(broker: broker, filters: ["alerts/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        // Warm up (first allocations, threads), then take the baseline.
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"warm","temp":90}"#.utf8), qos: 1)
        #expect(await eventually { alerts.count == 1 })
        let before = Self.memoryKiB(weir.pid)
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 40 << 20)
        for i in 0..<10 {
            try await pub.publish(topic: "sensors/s1/telemetry", payload: big, qos: 1)
            try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"good\#(i)","temp":90}"#.utf8), qos: 1)
        }
        #expect(await eventually(timeout: .seconds(60)) { alerts.count == 11 }, "every good event was routed")
        #expect(await eventually { metric(#"weir_events_invalid_total{reason="too_large"}"#) == 10 })
        #expect(Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200)
        // libmosquitto still reads each packet whole (the broker's message_size_limit is the bound
        // in front of Weir), but nothing of it stays: RSS settles near the baseline.
        let after = Self.memoryKiB(weir.pid)
        let peak = Self.memoryKiB(weir.pid, "VmHWM")
        #expect(after - before < 24 * 1024, "RSS \(before) KiB before the burst, \(after) KiB after")
        // One packet at a time: libmosquitto's packet and its message copy (2 x 40 MB); Weir's own
        // copy of the payload (a third 40 MB) is gone.
        #expect(peak - before < 100 * 1024, "peak RSS \(peak) KiB, \(before) KiB before the burst")
        alerts.client.shutdown()
    }
}
