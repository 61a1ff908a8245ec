import Foundation
import WeirCore
import WeirTestSupport

/// Report by exception through the daemon (issue 15): 1,000 devices at 1 Hz doing a slow random
/// walk, replayed with their timestamps (`event_time`, so `max_silence` runs on the readings'
/// clock), one rule forwarding every reading and one forwarding `changed(temp, 0.5, 5m)`, each to
/// its own upstream on the same cloud broker. The figure: upstream bytes and rows of the second
/// against the first, in one run.
extension ProductBench {
    /// Lines `{"device","ts","temp"}`: `seconds` readings per device, time-major; each device
    /// starts at 15-25 and moves by at most 0.1 per second (rounded to 0.01).
    func randomWalk(_ rig: ProductRig, devices: Int, seconds: Int) throws -> String {
        let path = rig.work.appendingPathComponent("lines-walk-\(devices)-\(seconds).txt").path
        var random = SplitMix64(seed: 42)
        var temps = (0..<devices).map { _ in 15 + Double(random.next() % 1000) / 100 }
        var text = ""
        text.reserveCapacity(devices * seconds * 52)
        let start: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z
        for second in 0..<seconds {
            for device in 0..<devices {
                temps[device] += Double(Int(random.next() % 21) - 10) / 100
                let temp = (temps[device] * 100).rounded() / 100
                text += #"{"device":"d\#(device)","ts":\#(start + Int64(second) * 1000),"temp":\#(temp)}"# + "\n"
            }
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func reportByException(_ rig: ProductRig) async throws -> [Figure] {
        let devices = 1_000
        let seconds = quick ? 60 : 900
        let events = devices * seconds
        let file = try randomWalk(rig, devices: devices, seconds: seconds)
        let port = freePort()
        let cloudPort = freePort()
        let broker = try rig.broker("broker-rbe", port: port)
        defer { broker.stop(signal: SIGKILL) }
        let cloud = try rig.broker("cloud-rbe", port: cloudPort)
        defer { cloud.stop(signal: SIGKILL) }
        let rules = """
            rules:
              - name: every
                sql: SELECT device, ts, temp FROM "in/+/tele"
                actions: [ { forward: all } ]
              - name: rbe
                sql: >-
                  SELECT device, ts, temp FROM "in/+/tele"
                  WHERE changed(temp, 0.5, 5m) OVER (PARTITION BY device)
                event_time: { field: ts }
                actions: [ { forward: exceptions } ]
            """
        let upstream = { (name: String) in "  \(name):\n    mqtt: { host: 127.0.0.1, port: \(cloudPort), topic: \"up/\(name)\" }\n" }
        let daemon = try await rig.daemon(
            "rbe", rules: rules, port: port, mode: .receipt, qos: 1, upstreams: "upstreams:\n" + upstream("all") + upstream("exceptions"))
        defer { daemon.process.stop(signal: SIGKILL) }
        var slow = rig
        slow.timeout = 300
        let start = monotonicNanos()
        let feeder = try rig.feed(port: port, file: file, qos: 1)
        defer { stopShell(feeder) }
        let done = slow.rate(from: start, expected: events, interval: 0.1) {
            scrapeMetric(port: daemon.admin, series: "weir_events_in_total") ?? 0
        }
        func metric(_ series: String) -> Double { scrapeMetric(port: daemon.admin, series: series) ?? .nan }
        // Both outboxes drained: every row counted is acknowledged by the cloud broker.
        let deadline = monotonicNanos() + 120_000_000_000
        while monotonicNanos() < deadline,
            metric(#"weir_outbox_depth{upstream="all"}"#) != 0 || metric(#"weir_outbox_depth{upstream="exceptions"}"#) != 0
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        let rows = (
            all: metric(#"weir_forwarded_events_total{upstream="all"}"#),
            rbe: metric(#"weir_forwarded_events_total{upstream="exceptions"}"#)
        )
        let bytes = (
            all: metric(#"weir_forwarded_bytes_total{upstream="all"}"#), rbe: metric(#"weir_forwarded_bytes_total{upstream="exceptions"}"#)
        )
        say(
            "    \(done.count) readings of \(devices.grouped) devices over \(seconds) s of their clock: every reading forwarded "
                + "\(Int(rows.all)) rows, \(Int(bytes.all)) B; changed(temp, 0.5, 5m) forwarded \(Int(rows.rbe)) rows, \(Int(bytes.rbe)) B")
        return [
            Figure(
                key: "rberows", name: "report by exception: rows forwarded with changed(temp, 0.5, 5m) / every reading", mode: .receipt,
                value: rows.rbe, baseline: rows.all, target: "report", met: true),
            Figure(
                key: "rbebytes", name: "report by exception: upstream bytes with changed(temp, 0.5, 5m) / every reading (zstd)",
                mode: .receipt, value: bytes.rbe, baseline: bytes.all, target: "report", met: true),
        ]
    }
}

/// A small deterministic generator, so the walk is the same in every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
