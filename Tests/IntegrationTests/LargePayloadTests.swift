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

    /// `mqtt.buffer_bytes` bounds what waits between the network thread and a stalled engine by
    /// bytes: 30 events of 200 KiB against a 1 MiB bound hold at most five, where the count bound
    /// (1,000) alone would let all 30 in. Under `ack: receipt`: with `durable` the network thread waits
    /// for each batch to settle, and a batch is bounded by a quarter of `buffer_bytes`.
    @Test func theIngestBufferIsBoundedByBytes() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-gate")
        let gate = dir.appendingPathComponent("open").path
        // Holds every invocation until the test opens the gate (bounded: gives up after 60 s).
        let fn = try writeScript(
            #"cat >/dev/null; i=0; while [ ! -e "$GATE" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; echo '{}'"#, in: dir)
        let rules = """
            functions:
              - name: gated
                exec: { command: ["\(fn)"], timeout: 90s, env: { GATE: "\(gate)" } }
            rules:
              - name: big
                sql: SELECT n FROM "big/#"
                actions:
                  - call: gated
            """
        let fixture = try BinaryFixture(
            name: "bytes", brokerPort: broker.port, rules: ["gate.yaml": rules],
            extra: "pool: { max_concurrency: 1, max_queued: 1 }")
        try String(contentsOf: fixture.config, encoding: .utf8)
            .replacingOccurrences(of: "qos: 1 }", with: "qos: 1, ack: receipt, buffer: 1000, buffer_bytes: 1MiB }")
            .write(to: fixture.config, atomically: true, encoding: .utf8)
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? -1
        }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let pad = String(repeating: "x", count: 200 << 10)
        for n in 0..<30 {
            try await pub.publish(topic: "big/1", payload: Array(#"{"n":\#(n),"pad":"\#(pad)"}"#.utf8), qos: 1)
        }
        // The engine is stalled (one invocation running, one queued): the buffer fills to its byte bound.
        #expect(await eventually(timeout: .seconds(30)) { metric("weir_ingest_buffered_bytes") >= Double(4 * (200 << 10)) })
        #expect(metric("weir_ingest_buffered_bytes") <= Double(1 << 20))
        #expect(metric("weir_ingest_buffered") <= 5)
        FileManager.default.createFile(atPath: gate, contents: nil)
        #expect(await eventually(timeout: .seconds(60)) { metric(#"weir_function_invocations_total{function="gated"}"#) == 30 })
        #expect(await eventually { metric("weir_ingest_buffered_bytes") == 0 })
    }
}
