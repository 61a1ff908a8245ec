import ArgumentParser
import Foundation
import WeirCore
import WeirForwarder
import WeirRocksDB
import WeirStore
import WeirZstd

/// Outbox figures: group-committed append rate against plain RocksDB puts in the same run, bytes
/// written to disk per event, and upstream bytes against raw JSON for several batch sizes.
struct OutboxBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "Component: outbox append rate, disk bytes, compression.")

    @Option(help: "Records per run.") var records = 100_000
    @Option(help: "Concurrent appenders (rule actions in flight).") var appenders = 64
    @Option(help: "Minimum milliseconds between fsyncs.") var commitMillis = 0
    @Option(help: "Backlog size for the drain figure (0 skips it).") var drainRecords = 1_000_000

    func run() async throws {
        let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("weir-outbox-bench-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let sample = sampleRecords(records)

        // Baseline: plain puts (no sync) into a fresh database, one thread.
        let plainDB = try RocksDB(path: work.appendingPathComponent("plain").path)
        var start = monotonicNanos()
        for (i, record) in sample.enumerated() { try plainDB.put([UInt8](bigEndian: UInt64(i)), record) }
        let plainRate = Double(records) / (Double(monotonicNanos() - start) / 1e9)

        // The outbox: every append durable (fsynced WAL) before it returns, group-committed every 10 ms.
        let path = work.appendingPathComponent("outbox").path
        let db = try RocksDB(path: path)
        let outbox = try Outbox(db: db, name: "cloud", commitInterval: .milliseconds(Int64(commitMillis)))
        start = monotonicNanos()
        let perAppender = records / appenders
        try await withThrowingTaskGroup(of: Void.self) { group in
            for a in 0..<appenders {
                group.addTask {
                    for i in 0..<perAppender { _ = try await outbox.append(sample[a * perAppender + i]) }
                }
            }
            try await group.waitForAll()
        }
        let appended = perAppender * appenders
        let outboxRate = Double(appended) / (Double(monotonicNanos() - start) / 1e9)
        outbox.close()

        // As the daemon forwards: one producer (the ingest loop) queues each row in order and goes
        // on; up to 1024 rows wait for their fsync at once (pool.max_pipelined).
        let pipelinedDB = try RocksDB(path: work.appendingPathComponent("pipelined").path)
        let pipelined = try Outbox(db: pipelinedDB, name: "cloud", commitInterval: .milliseconds(Int64(commitMillis)))
        let permits = AsyncSemaphore(limit: 1024)
        start = monotonicNanos()
        for record in sample {
            let ticket = pipelined.enqueue(record)
            await permits.acquire()
            Task {
                _ = try? await ticket.sequence
                permits.release()
            }
        }
        await permits.waitUntilIdle()
        let pipelinedRate = Double(sample.count) / (Double(monotonicNanos() - start) / 1e9)
        pipelined.close()
        pipelinedDB.close()
        let diskBytes = directorySize(path)
        let rawBytes = sample.prefix(appended).reduce(0) { $0 + $1.count }

        say(
            "weir-bench outbox (component: the outbox driven directly, not through the daemon): \(records) records, "
                + "\(appenders) concurrent appenders, minimum fsync spacing \(commitMillis) ms"
        )
        say("")
        say("| figure | value | baseline | ratio |")
        say("| --- | --- | --- | --- |")
        say(
            "| append rate, durable (group commit), records/s | \(Int(outboxRate)) | plain RocksDB put, no sync: \(Int(plainRate)) "
                + "| \(String(format: "%.2f", outboxRate / plainRate)) |"
        )
        say(
            "| append rate, durable, pipelined (one producer, up to 1024 awaiting their fsync: the daemon's forward), records/s "
                + "| \(Int(pipelinedRate)) | plain RocksDB put, no sync: \(Int(plainRate)) "
                + "| \(String(format: "%.2f", pipelinedRate / plainRate)) |"
        )
        say(
            "| bytes on disk per record after appends (WAL + SST) | \(diskBytes / max(appended, 1)) "
                + "| record size \(rawBytes / max(appended, 1)) | |"
        )
        for batch in [10, 50, 100, 500] {
            let (raw, compressed) = try batchBytes(sample, batchSize: batch)
            say(
                "| upstream bytes / raw CloudEvents JSON, batch \(batch) | \(compressed) / \(raw) "
                    + "| | 1/\(String(format: "%.1f", Double(raw) / Double(compressed))) |"
            )
        }
        try dictionaryStudy()
        try await appendLatency(work: work)
        if drainRecords > 0 {
            guard let mosquitto = findExecutable(["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]) else {
                throw BenchFailure("mosquitto is needed for the drain figure (apt-get install mosquitto)")
            }
            try await drain(count: drainRecords, work: work, mosquitto: mosquitto)
        }
    }

    /// Telemetry rows like the simulator's, as outbox records.
    func sampleRecords(_ count: Int) -> [[UInt8]] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { i in
            OutboxRecord(
                rule: "telemetry-upstream", topic: "sensors/site-\(i % 3 + 1)/telemetry", time: 1_795_400_000_000 + Int64(i) * 10,
                data: [
                    "device": .string("dev-\(String(format: "%04d", i % 1000))"),
                    "temp": .double((Double.random(in: 55...80, using: &generator) * 10).rounded() / 10),
                    "humidity": .double((Double.random(in: 30...60, using: &generator) * 10).rounded() / 10),
                    "battery": .int(Int64.random(in: 5...100, using: &generator)),
                ]
            ).encoded()
        }
    }

    /// Raw and zstd bytes of the CloudEvents batches the forwarder would send, summed over all batches.
    func batchBytes(_ sample: [[UInt8]], batchSize: Int) throws -> (raw: Int, compressed: Int) {
        var raw = 0
        var compressed = 0
        let records = try sample.prefix(20_000).enumerated().map {
            (sequence: UInt64($0.offset + 1), record: try OutboxRecord(decoding: $0.element))
        }
        var index = 0
        while index < records.count {
            let json = CloudEvents.batch(Array(records[index..<min(index + batchSize, records.count)]), gatewayID: "gw-01")
            raw += json.count
            compressed += try Zstd.compress(json).count
            index += batchSize
        }
        return (raw, compressed)
    }

    func directorySize(_ path: String) -> Int {
        let files = (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []
        return files.reduce(0) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: path + "/" + file)[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}
