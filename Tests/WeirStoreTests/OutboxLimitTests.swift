import Foundation
import Synchronization
import Testing
import WeirCore
import WeirRocksDB
import WeirTestSupport

@testable import WeirStore

/// Size cap, TTL, totals and read-only inspection, against a real RocksDB.
@Suite struct OutboxLimitTests {
    let record = [UInt8](repeating: 0x61, count: 91)  // 100 bytes stored with the 9-byte header

    @Test func dropOldestKeepsTheNewestWithinTheCapAndCountsTheRest() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud", limits: OutboxLimits(maxBytes: 1_000, whenFull: .dropOldest))
        defer { outbox.close() }
        for _ in 1...25 { _ = try await outbox.append(record) }
        let stats = try outbox.stats()
        #expect(stats.depth == 10)
        #expect(stats.bytes == 1_000)
        #expect(stats.dropped == 15)
        #expect(try outbox.peek(maxRecords: 100).map(\.sequence) == Array(16...25), "the newest ten are kept, in order")
    }

    /// A burst larger than the whole cap arriving in one group commit (appends queued during a
    /// slow fsync): under drop_oldest the group's own oldest go, every append succeeds, and the
    /// newest fill the cap.
    @Test func aGroupLargerThanTheCapKeepsItsNewestUnderDropOldest() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        // A long commit interval: what is enqueued after the first commit waits for the next one together.
        let outbox = try Outbox(
            db: db, name: "cloud", commitInterval: .seconds(1), limits: OutboxLimits(maxBytes: 1_000, whenFull: .dropOldest))
        defer { outbox.close() }
        _ = try await outbox.append(record)
        let tickets = (0..<30).map { _ in outbox.enqueue(record) }
        var sequences: [UInt64] = []
        for ticket in tickets { sequences.append(try await ticket.sequence) }
        #expect(sequences == Array(2...31), "every append is accepted, in order")
        let stats = try outbox.stats()
        #expect(stats.depth == 10)
        #expect(stats.dropped == 21, "the first record and the group's 20 oldest")
        #expect(stats.rejected == 0)
        #expect(try outbox.peek(maxRecords: 100).map(\.sequence) == Array(22...31))
    }

    @Test func rejectNewRefusesAppendsOnceFullAndKeepsTheOld() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud", limits: OutboxLimits(maxBytes: 1_000, whenFull: .rejectNew))
        defer { outbox.close() }
        for _ in 1...10 { _ = try await outbox.append(record) }
        await #expect(throws: OutboxFull.self) { try await outbox.append(record) }
        await #expect(throws: OutboxFull.self) { try await outbox.append(record) }
        #expect(try outbox.stats().rejected == 2)
        #expect(try outbox.peek(maxRecords: 100).map(\.sequence) == Array(1...10))
        // Room again after delivery: sequences stay dense (a refused append takes no number).
        try await outbox.acknowledge(through: 5)
        #expect(try await outbox.append(record) == 11)
        #expect(try outbox.stats().sent == 5)
    }

    @Test func recordsOlderThanTheTTLExpireAndAreCounted() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let now = Atomic<Int64>(1_000_000)
        let outbox = try Outbox(db: db, name: "cloud", limits: OutboxLimits(ttl: .seconds(60)), clock: { now.load(ordering: .relaxed) })
        defer { outbox.close() }
        for _ in 1...5 { _ = try await outbox.append(record) }
        now.store(1_000_000 + 61_000, ordering: .relaxed)
        let fresh = try await outbox.append(record)
        // The committer checks ages about once a second.
        #expect(await eventually(timeout: .seconds(5)) { (try? outbox.stats().expired) == 5 })
        #expect(try outbox.peek(maxRecords: 10).map(\.sequence) == [fresh], "only the young record is left")
        #expect(try outbox.stats().bytes == 100)
    }

    @Test func totalsSurviveAReopenAndAReadOnlyViewSeesALiveStore() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let db = try RocksDB(path: dir.path)
            let outbox = try Outbox(db: db, name: "cloud", limits: OutboxLimits(maxBytes: 500))
            for _ in 1...8 { _ = try await outbox.append(record) }
            try await outbox.acknowledge(through: 6)
            outbox.close()
        }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud", limits: OutboxLimits(maxBytes: 500))
        defer { outbox.close() }
        let before = try outbox.stats()
        #expect(before.depth == 2 && before.bytes == 200 && before.sent == 3 && before.dropped == 3 && before.nextSequence == 9)
        _ = try await outbox.append(record)

        var options = RocksDB.Options()
        options.readOnly = true
        let view = try RocksDB(path: dir.path, options: options)
        let seen = try Outbox.inspect(db: view, name: "cloud")
        #expect(seen.depth == 3)
        #expect(seen.bytes == 300)
        #expect(seen.oldestAppendedAt.map { abs(currentTimeMillis() - $0) < 60_000 } == true)
        #expect(try Outbox.peek(db: view, name: "cloud", maxRecords: 10).map(\.record) == [record, record, record])
        #expect(throws: RocksDBError.self) { try view.put([1], [1]) }
    }

    @Test func sequencesNeverRepeatEvenWhenTheOutboxWasEmptiedBeforeARestart() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let db = try RocksDB(path: dir.path)
            let outbox = try Outbox(db: db, name: "cloud")
            for _ in 1...3 { _ = try await outbox.append(record) }
            try await outbox.acknowledge(through: 3)
            outbox.close()
        }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud")
        defer { outbox.close() }
        #expect(outbox.depth == 0)
        #expect(try await outbox.append(record) == 4, "event ids <gateway>-<sequence> stay unique across restarts")
    }

    @Test func aCorruptedValueComesBackMarkedForDeadLettering() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud")
        defer { outbox.close() }
        for _ in 1...3 { _ = try await outbox.append(record) }
        try db.put(OutboxKeys(name: "cloud").key(2), [0xEE, 0x01])  // bit rot / a newer format
        let entries = try outbox.peek(maxRecords: 10)
        #expect(entries.map(\.appendedAt).map { $0 >= 0 } == [true, false, true])
        #expect(entries[1].record == [0xEE, 0x01])
    }
}

@Suite struct DeadLetterTests {
    @Test func lettersAreKeptInOrderReadableAndPurgeable() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-dlq")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let db = try RocksDB(path: dir.path)
            let letters = try DeadLetters(db: db)
            for i in 1...3 {
                let letter = DeadLetter(
                    kind: .upstream, target: "cloud", failedAt: 1_700_000_000_000, error: "HTTP 400 bad", attempts: i,
                    payload: [.int(Int64(i))])
                #expect(try letters.add(letter) == UInt64(i))
            }
        }
        let db = try RocksDB(path: dir.path)
        let letters = try DeadLetters(db: db)
        #expect(
            try letters.add(DeadLetter(kind: .record, target: "cloud", failedAt: 0, error: "x", attempts: 0, payload: nil)) == 4,
            "ids continue after a reopen")
        let all = try letters.list()
        #expect(all.map(\.id) == [1, 2, 3, 4])
        #expect(all[1].attempts == 2 && all[1].payload == [2] && all[1].error == "HTTP 400 bad")
        #expect(try letters.list(after: 2, limit: 1).map(\.id) == [3])
        #expect(try letters.purge(2) == 1)
        #expect(try letters.get(2) == nil)
        #expect(try letters.purge() == 3)
        #expect(letters.count == 0)
    }
}
