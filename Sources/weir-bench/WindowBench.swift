import ArgumentParser
import Foundation
import WeirCore
import WeirForwarder
import WeirRocksDB
import WeirRules
import WeirStore
import WeirZstd

/// Window figures: aggregation throughput with many groups against the plain filter-rule path in
/// the same run, saved state per group, memory, and upstream bytes with and without aggregation.
struct WindowBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "windows",
        abstract: "Component: windowed aggregation (WindowOperator driven directly, no daemon): throughput, state size, upstream bytes.")

    @Option(help: "Distinct groups (devices).") var groups = 10_000
    @Option(help: "Events per measurement.") var events = 1_000_000

    func run() throws {
        let filter = try rules(
            """
            name: plain
            sql: SELECT device, temp, topic(2) AS site FROM "sensors/+/telemetry" WHERE temp > -1000
            actions: [ { log: {} } ]
            """)
        let windowed = try rules(
            """
            name: avg
            sql: >
              SELECT device, avg(temp) AS temp_avg, min(temp) AS temp_min, max(temp) AS temp_max, count(*) AS n
              FROM "sensors/+/telemetry" GROUP BY device, TUMBLING(10s)
            actions: [ { log: {} } ]
            """)
        let payloads = (0..<groups).map { d in
            Array(#"{"device":"dev-\#(d)","temp":\#(20 + Double(d % 50) / 10),"humidity":40.5,"battery":87}"#.utf8)
        }
        let events = self.events
        func feed(_ set: RuleSet, _ sink: (EventOutcome) throws -> Void) rethrows -> Double {
            let start = monotonicNanos()
            for i in 0..<events {
                let event = Event(
                    topic: "sensors/site-\(i % 3)/telemetry", payload: payloads[i % payloads.count], qos: 1, receivedAt: 1_800_000_000_000)
                try sink(set.process(event))
            }
            return Double(events) / (Double(monotonicNanos() - start) / 1e9)
        }
        var matched = 0
        let plainRate = feed(filter) { matched += $0.matches.count }
        let rssBefore = memoryKiB(pid: getpid()).rss
        var windows = WindowOperator(query: windowed.rules[0].query.grouping!, maxGroups: groups * 2)
        let time: Int64 = 1_800_000_000_000  // one 10 s window: every event lands in an open group
        let windowRate = try feed(windowed) { outcome in
            for input in outcome.windowInputs {
                _ = try windows.add(keys: input.keys, values: input.values, time: time, now: time)
            }
        }
        let rssAfter = memoryKiB(pid: getpid()).rss
        precondition(matched == events && windows.groups.count == groups)

        // Saved state: every group checkpointed into a fresh store, compacted, then measured.
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("weir-window-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let store = WindowStore(db: db)
        try store.commit(windows.takeTouched().map { WindowChange(rule: "avg", storeKey: $0.storeKey, state: $0.state) })
        try db.compactRange(from: Array("window/".utf8), to: Array("window0".utf8))
        let stateBytes = try store.approximateBytes(rule: "avg")
        let jsonBytes = windows.groups.values.reduce(0) { $0 + JSONWriter.bytes($1.json).count }
        db.close()

        let (rawUp, aggregatedUp, rawPayload) = try upstreamBytes()
        say(
            "weir-bench windows (component: WindowOperator driven directly, not through the daemon): "
                + "\(groups) groups, \(events) events per run, one core"
        )
        say("")
        say("| figure | value | baseline | ratio |")
        say("| --- | --- | --- | --- |")
        say(
            "| rule evaluation + windowed aggregation (avg, min, max, count per device, TUMBLING(10s)), events/s | \(Int(windowRate)) "
                + "| plain filter rule, same events: \(Int(plainRate)) | \(String(format: "%.2f", windowRate / plainRate)) |"
        )
        say(
            "| saved state per group (zstd JSON in RocksDB, after compaction) | \(stateBytes / UInt64(groups)) B "
                + "| uncompressed JSON: \(jsonBytes / groups) B | |"
        )
        say(
            "| RSS growth for \(groups) open groups | \((rssAfter - rssBefore) / 1024) MiB "
                + "| | \((rssAfter - rssBefore) * 1024 / groups) B/group |"
        )
        say(
            "| upstream bytes for 1,000 devices at 1 Hz for 60 s, 10 s averages | \(aggregatedUp) "
                + "| every reading forwarded (zstd CloudEvents, batches of 500): \(rawUp) "
                + "| 1/\(String(format: "%.0f", Double(rawUp) / Double(aggregatedUp))) |"
        )
        say(
            "| the same against the raw readings' JSON payloads | \(aggregatedUp) | \(rawPayload) "
                + "| 1/\(String(format: "%.0f", Double(rawPayload) / Double(aggregatedUp))) |"
        )
    }

    func rules(_ text: String) throws -> RuleSet {
        let (parsed, diagnostics) = RuleLoader.parse(text, file: "bench.yaml")
        if let first = diagnostics.first { throw BenchFailure("\(first)") }
        return RuleSet(rules: parsed)
    }

    /// 1,000 devices at 1 Hz for 60 s: the bytes sent upstream forwarding every reading, and
    /// forwarding one 10 s average per device, both as zstd CloudEvents batches of up to 500.
    func upstreamBytes() throws -> (raw: Int, aggregated: Int, payloads: Int) {
        let windowed = try rules(
            """
            name: avg10
            sql: >
              SELECT device, topic(2) AS site, avg(temp) AS temp_avg, min(temp) AS temp_min, max(temp) AS temp_max, count(*) AS n,
                     window_start() AS window_start
              FROM "sensors/+/telemetry" GROUP BY device, topic(2), TUMBLING(10s)
            actions: [ { log: {} } ]
            """)
        var windows = WindowOperator(query: windowed.rules[0].query.grouping!)
        var raw: [(sequence: UInt64, record: OutboxRecord)] = []
        var aggregated: [(sequence: UInt64, record: OutboxRecord)] = []
        var payloadBytes = 0
        var generator = SystemRandomNumberGenerator()
        let start: Int64 = 1_800_000_000_000
        for second in 0..<60 {
            let now = start + Int64(second) * 1000
            for d in 0..<1000 {
                let temp = (Double.random(in: 18...26, using: &generator) * 10).rounded() / 10
                let payload = Array(
                    (#"{"device":"dev-\#(d)","temp":\#(temp),"humidity":\#(Int.random(in: 30...60, using: &generator)),"#
                        + #""battery":\#(90 - second / 10)}"#)
                        .utf8)
                payloadBytes += payload.count
                let topic = "sensors/site-\(d % 3)/telemetry"
                let row = try JSONParser.parse(payload).objectValue!
                raw.append((UInt64(raw.count + 1), OutboxRecord(rule: "telemetry", topic: topic, time: now, data: row)))
                let outcome = windowed.process(Event(topic: topic, payload: payload, qos: 1, receivedAt: now))
                for input in outcome.windowInputs { _ = try windows.add(keys: input.keys, values: input.values, time: now, now: now) }
            }
            for output in try windows.advance(now: now + 999) {
                aggregated.append(
                    (
                        UInt64(aggregated.count + 1),
                        OutboxRecord(rule: "avg10", topic: "sensors/+/telemetry", time: output.windowEnd, data: output.row)
                    ))
            }
        }
        for output in try windows.advance(now: start + 70_000) {
            aggregated.append(
                (
                    UInt64(aggregated.count + 1),
                    OutboxRecord(rule: "avg10", topic: "sensors/+/telemetry", time: output.windowEnd, data: output.row)
                ))
        }
        func upstream(_ records: [(sequence: UInt64, record: OutboxRecord)]) throws -> Int {
            try stride(from: 0, to: records.count, by: 500).reduce(0) { total, index in
                total
                    + (try Zstd.compress(CloudEvents.batch(Array(records[index..<min(index + 500, records.count)]), gatewayID: "gw-01")))
                    .count
            }
        }
        precondition(aggregated.count == 6_000)
        return (try upstream(raw), try upstream(aggregated), payloadBytes)
    }
}
