import Foundation
import Logging
import Metrics
import WeirCore
import WeirForwarder
import WeirMQTT
import WeirRocksDB
import WeirStore
import WeirTestSupport
import WeirZstd

/// The outbox figures beyond append rate: dictionary compression, the loss window of each commit
/// setting, and draining a large backlog to a real MQTT upstream.
extension OutboxBench {
    /// Upstream bytes per batch size with no dictionary and with dictionaries trained on other
    /// records of the same shape (the outbox's own data).
    func dictionaryStudy() throws {
        let records = try sampleRecords(40_000).enumerated().map {
            (sequence: UInt64($0.offset + 1), record: try OutboxRecord(decoding: $0.element))
        }
        let training = Array(records[0..<20_000])
        let test = Array(records[20_000...])
        func batches(_ source: [(sequence: UInt64, record: OutboxRecord)], size: Int) -> [[UInt8]] {
            stride(from: 0, to: source.count, by: size).map {
                CloudEvents.batch(Array(source[$0..<min($0 + size, source.count)]), gatewayID: "gw-01")
            }
        }
        say("")
        say("Dictionary study: CloudEvents batches of the second 20,000 records; dictionaries trained on batches of the first 20,000.")
        say("")
        say(
            "| batch size | raw bytes/event | zstd, no dictionary | zstd + 4 KiB dictionary | zstd + 16 KiB dictionary "
                + "| gain of 16 KiB dictionary |"
        )
        say("| --- | --- | --- | --- | --- | --- |")
        let samples = batches(training, size: 5)
        let small = try ZstdDictionary.train(samples: samples, capacity: 4 << 10)
        let large = try ZstdDictionary.train(samples: samples, capacity: 16 << 10)
        for size in [1, 5, 10, 50, 100, 500] {
            let frames = batches(test, size: size)
            let raw = frames.reduce(0) { $0 + $1.count }
            let plain = try frames.reduce(0) { $0 + (try Zstd.compress($1)).count }
            let withSmall = try frames.reduce(0) { $0 + (try small.compress($1)).count }
            let withLarge = try frames.reduce(0) { $0 + (try large.compress($1)).count }
            let perEvent = { (bytes: Int) in String(format: "%.1f", Double(bytes) / Double(test.count)) }
            say(
                "| \(size) | \(perEvent(raw)) | \(perEvent(plain)) (1/\(String(format: "%.1f", Double(raw) / Double(plain)))) "
                    + "| \(perEvent(withSmall)) | \(perEvent(withLarge)) (1/\(String(format: "%.1f", Double(raw) / Double(withLarge)))) "
                    + "| \(String(format: "%.2f", Double(plain) / Double(withLarge)))x |"
            )
        }
        // The frame names its dictionary, so a consumer can pick the right one and old frames stay readable.
        let frame = try large.compress(batches(test, size: 10)[0])
        let restored = try large.decompress(frame, maxSize: 1 << 20)
        precondition(ZstdDictionary.id(ofFrame: frame) == large.id && restored == batches(test, size: 10)[0])
    }

    /// Time from `append` to durable under load, per minimum fsync spacing: the window in which an
    /// accepted-but-not-yet-durable row can be lost to power failure is bounded by this latency.
    func appendLatency(work: URL) async throws {
        let sample = sampleRecords(20_000)
        say("")
        say("Append latency (call -> fsynced) with 16 concurrent appenders at full speed, 20,000 appends per setting:")
        say("")
        say("| commit_interval | appends/s | p50 ms | p99 ms | max ms |")
        say("| --- | --- | --- | --- | --- |")
        for interval in [0, 2, 10] {
            let db = try RocksDB(path: work.appendingPathComponent("latency-\(interval)").path)
            let outbox = try Outbox(db: db, name: "cloud", commitInterval: .milliseconds(Int64(interval)))
            let start = monotonicNanos()
            let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
                for a in 0..<16 {
                    group.addTask {
                        var mine: [Double] = []
                        for i in 0..<1250 {
                            let t0 = monotonicNanos()
                            _ = try await outbox.append(sample[a * 1250 + i])
                            mine.append(Double(monotonicNanos() - t0) / 1e6)
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [Double]()) { $0 += $1 }
            }.sorted()
            let rate = Double(latencies.count) / (Double(monotonicNanos() - start) / 1e9)
            outbox.close()
            db.close()
            say(
                "| \(interval) ms | \(Int(rate)) | \(String(format: "%.2f", percentile(latencies, 50))) "
                    + "| \(String(format: "%.2f", percentile(latencies, 99))) | \(String(format: "%.2f", latencies.last ?? 0)) |"
            )
        }
    }

    /// Fills an outbox with `count` records, then drains it through a forwarder to a real mosquitto
    /// at QoS 1 (batches of 500, zstd). Baseline: one plain scan of the same records.
    func drain(count: Int, work: URL, mosquitto: String) async throws {
        let port = freePort()
        try "listener \(port) 127.0.0.1\nallow_anonymous true\nuser root\n".write(
            to: work.appendingPathComponent("cloud.conf"), atomically: true, encoding: .utf8)
        let broker = try ChildProcess(mosquitto, ["-c", work.appendingPathComponent("cloud.conf").path])
        defer { broker.stop(signal: SIGKILL) }
        guard waitForPort(port) else { throw BenchFailure("mosquitto did not start") }

        let db = try RocksDB(path: work.appendingPathComponent("drain").path)
        let outbox = try Outbox(db: db, name: "cloud")
        let sample = sampleRecords(10_000)
        var fillStart = monotonicNanos()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for a in 0..<64 {
                group.addTask { for i in stride(from: a, to: count, by: 64) { _ = try await outbox.append(sample[i % sample.count]) } }
            }
            try await group.waitForAll()
        }
        let fillSeconds = Double(monotonicNanos() - fillStart) / 1e9
        fillStart = monotonicNanos()
        var scanned = 0
        try db.scan(from: Array("outbox/cloud/".utf8), upTo: Array("outbox/cloud/".utf8) + [0xFF]) { _, _ in
            scanned += 1
            return true
        }
        let scanSeconds = Double(monotonicNanos() - fillStart) / 1e9

        let logger = Logger(label: "bench")
        let client = try MQTTClient(
            configuration: MQTTConfiguration(port: port, clientID: "bench-drain", cleanSession: true, maxInflight: 20), logger: logger)
        client.start()
        await client.waitUntilReady()
        var configuration = ForwarderConfiguration()
        configuration.maxEvents = 500
        configuration.maxDelay = .milliseconds(5)
        let forwarder = Forwarder(
            name: "cloud", outbox: outbox, sender: MQTTUpstream(client: client, topic: "weir/gw/events"),
            deadLetters: try DeadLetters(db: db),
            configuration: configuration, gatewayID: "gw", logger: logger, metricsFactory: NOOPMetricsHandler.instance)
        let start = monotonicNanos()
        let task = Task { await forwarder.run(isStopping: { outbox.depth == 0 }) }
        await task.value
        let drainSeconds = Double(monotonicNanos() - start) / 1e9
        let peakRSS = memoryKiB(pid: getpid()).peak
        client.shutdown()
        outbox.close()
        db.close()
        say("")
        say("| figure | value | baseline | ratio |")
        say("| --- | --- | --- | --- |")
        say("| fill: \(count) durable appends, 64 appenders | \(String(format: "%.1f", fillSeconds)) s | | |")
        say(
            "| drain \(count) queued events to MQTT upstream (QoS 1, batches of 500, zstd) "
                + "| \(String(format: "%.1f", drainSeconds)) s (\(Int(Double(count) / drainSeconds)) events/s) "
                + "| one plain scan of the backlog: \(String(format: "%.2f", scanSeconds)) s (\(scanned) records) "
                + "| \(String(format: "%.1f", drainSeconds / scanSeconds)) x |"
        )
        say("| peak RSS of the benchmark process | \(peakRSS / 1024) MiB | | |")
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
