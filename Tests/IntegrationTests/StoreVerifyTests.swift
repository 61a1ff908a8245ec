import Foundation
import Logging
import Testing
import WeirCore
import WeirForwarder
import WeirRocksDB
import WeirStore
import WeirTestSupport

/// `weir store verify` through the real binary, on a store written with the store's own types.
@Suite(.serialized) struct StoreVerifyTests {
    /// Journals `entry` and waits until it is durable.
    func journal(_ journal: InvocationJournal, _ entry: JournalEntry) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            journal.record(entry) { error in
                if let error { continuation.resume(throwing: error) } else { continuation.resume() }
            }
        }
    }

    @Test func verifyCountsEveryKindAndNamesEachDamagedKey() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-verify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let storePath = dir.appendingPathComponent("state/store").path
        try FileManager.default.createDirectory(atPath: storePath, withIntermediateDirectories: true)
        let config = dir.appendingPathComponent("weir.yaml")
        try "state_dir: \(dir.path)/state\nrules_dir: \(dir.path)/rules\n".write(to: config, atomically: true, encoding: .utf8)

        let db = try RocksDB(path: storePath)
        let outbox = try Outbox(db: db, name: "cloud")
        for n in 0..<5 {
            let row = OutboxRecord(rule: "fwd", topic: "sensors/s1/telemetry", time: 1_700_000_000_000, data: ["n": .int(Int64(n))])
            _ = try await outbox.append(row.encoded())
        }
        outbox.close()
        let letters = try DeadLetters(db: db)
        for n in 1...2 {
            let letter = DeadLetter(
                kind: .function, target: "notify", failedAt: 1_700_000_000_000, error: "exit 1", attempts: 3, payload: [.int(Int64(n))])
            try letters.add(letter)
        }
        let invocations = try InvocationJournal(db: db, logger: Logger(label: "test"))
        let invocation = JournalEntry(rule: "alerts", function: "notify", row: ["t": 91], topic: "sensors/s1/telemetry", receivedAt: 1)
        try await journal(invocations, invocation)
        invocations.close()
        let windows = WindowStore(db: db)
        try windows.reset(rule: "avg", signature: "v1")
        try windows.commit([WindowChange(rule: "avg", storeKey: "d1", state: ["count": 3])])
        try ScheduleStore(db: db).recordRun(of: "rotate", at: 1_700_000_000_000)

        // The store is open read-write here, as under a running daemon: verify opens it read-only.
        let clean = try runWeir(["store", "verify", "--json", "--config", config.path], in: dir)
        #expect(clean.status == 0, "\(clean.output)")
        let report = try JSONParser.parse(clean.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(report["ok"] == true)
        var entries: [String: Int] = [:]
        if case .array(let kinds)? = report["kinds"] {
            for kind in kinds { entries[kind["kind"]?.stringValue ?? ""] = kind["entries"]?.intValue }
        }
        #expect(entries == ["outbox": 5, "dead_letters": 2, "journal": 1, "windows": 1, "schedules": 1], "\(clean.output)")
        let table = try runWeir(["store", "verify", "--config", config.path], in: dir)
        #expect(table.status == 0 && table.output.contains("store ok"), "\(table.output)")

        // Bit rot under an outbox key and a dead-letter key.
        try db.put(Array("outbox/cloud/".utf8) + [UInt8](bigEndian: 3), [0xDE, 0xAD])
        try db.put(Array("dlq/".utf8) + [UInt8](bigEndian: 2), Array("garbage".utf8))
        db.close()
        let damaged = try runWeir(["store", "verify", "--config", config.path], in: dir)
        #expect(damaged.status == 1, "\(damaged.output)")
        #expect(damaged.output.contains("outbox/cloud/3: unreadable value header"), "\(damaged.output)")
        #expect(damaged.output.contains("dlq/2: dead letter is unreadable"), "\(damaged.output)")
        #expect(damaged.output.contains("store damaged: 2 problem(s)"), "\(damaged.output)")
    }

    @Test func aStoreRocksDBCannotOpenIsDamage() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-verify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("state/store")
        try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
        let config = dir.appendingPathComponent("weir.yaml")
        try "state_dir: \(dir.path)/state\n".write(to: config, atomically: true, encoding: .utf8)
        do {
            let db = try RocksDB(path: store.path)
            let outbox = try Outbox(db: db, name: "cloud")
            for n in 0..<200 {
                _ = try await outbox.append(OutboxRecord(rule: "fwd", topic: "t", time: 1, data: ["n": .int(Int64(n))]).encoded())
            }
            outbox.close()
            db.close()
        }
        // Damage in the middle of the write-ahead log, not a torn tail: RocksDB refuses the open.
        let wal = try #require(try FileManager.default.contentsOfDirectory(atPath: store.path).filter { $0.hasSuffix(".log") }.max())
        let walURL = store.appendingPathComponent(wal)
        var bytes = try [UInt8](Data(contentsOf: walURL))
        #expect(bytes.count > 4096)
        for i in (bytes.count / 2)..<(bytes.count / 2 + 64) { bytes[i] ^= 0xFF }
        try Data(bytes).write(to: walURL)
        let result = try runWeir(["store", "verify", "--config", config.path], in: dir)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("cannot open the store") && result.output.contains("Corruption"), "\(result.output)")
    }

    @Test func verifyWithoutAStoreFailsAndSaysSo() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-verify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("weir.yaml")
        try "state_dir: \(dir.path)/state\n".write(to: config, atomically: true, encoding: .utf8)
        let result = try runWeir(["store", "verify", "--config", config.path], in: dir)
        #expect(result.status == 1)
        #expect(result.output.contains("no store yet"), "\(result.output)")
    }
}
