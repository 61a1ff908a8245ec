import Foundation
import Logging
import Synchronization
import Testing
import WeirCore
import WeirRocksDB
import WeirTestSupport

@testable import WeirStore

/// The invocation journal against a real RocksDB: group commit, durability across reopen, updates
/// and removals, ids, unreadable entries and failed writes.
@Suite struct InvocationJournalTests {
    let logger = Logger(label: "test.journal")

    func entry(_ n: Int, attempt: Int = 1) -> JournalEntry {
        JournalEntry(
            rule: "alerts", function: "notify", row: ["device": .string("d\(n)"), "n": .int(Int64(n))], topic: "sensors/s1/telemetry",
            receivedAt: 1_700_000_000_000 + Int64(n), hops: 1, attempt: attempt)
    }

    /// Records `entry` and returns its id once it is durable (or throws the write's error).
    func durable(_ journal: InvocationJournal, _ entry: JournalEntry) async throws -> UInt64 {
        let id = Mutex<UInt64>(0)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let assigned = journal.record(entry) { error in
                if let error { continuation.resume(throwing: error) } else { continuation.resume() }
            }
            id.withLock { $0 = assigned }
        }
        return id.withLock { $0 }
    }

    @Test func recordsArrivingTogetherShareFsyncs() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = try InvocationJournal(db: try RocksDB(path: dir.path), logger: logger)
        defer { journal.close() }
        let done = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        var ids: [UInt64] = []
        for n in 1...1_000 {
            ids.append(
                journal.record(entry(n)) { error in
                    if error != nil { failed.add(1, ordering: .relaxed) }
                    done.add(1, ordering: .relaxed)
                })
        }
        #expect(ids == Array(1...1_000), "ids are assigned at once, in order")
        #expect(await eventually { done.load(ordering: .relaxed) == 1_000 })
        #expect(failed.load(ordering: .relaxed) == 0)
        let fsyncs = journal.syncedWrites.load(ordering: .relaxed)
        #expect(fsyncs >= 1 && fsyncs <= 100, "\(fsyncs) fsyncs for 1,000 records: one per group, not per record")
        #expect(journal.count == 1_000)
        #expect(try journal.entries().map(\.id) == Array(1...1_000))
    }

    @Test func entriesSurviveReopenWithTheirUpdatesAndRemovals() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytesBefore: Int
        do {
            let db = try RocksDB(path: dir.path)
            let journal = try InvocationJournal(db: db, logger: logger)
            for n in 1...3 { #expect(try await durable(journal, entry(n)) == UInt64(n)) }
            journal.update(2, attempt: 3)
            journal.remove(1)
            journal.update(1, attempt: 9)  // already removed: must not come back
            journal.update(42, attempt: 2)  // never stored: ignored
            journal.close()
            #expect(journal.count == 2)
            bytesBefore = journal.bytes
            #expect(journal.syncedWrites.load(ordering: .relaxed) <= 3, "updates and removals add no fsync")
            db.close()
        }
        let db = try RocksDB(path: dir.path)
        let journal = try InvocationJournal(db: db, logger: logger)
        defer { journal.close() }
        var expected = [entry(2, attempt: 3), entry(3)]
        expected[0].id = 2
        expected[1].id = 3
        #expect(try journal.entries() == expected)
        #expect(try InvocationJournal.entries(db: db) == expected, "the read-only view sees the same")
        #expect(journal.count == 2 && journal.bytes == bytesBefore && bytesBefore > 0, "count and bytes recovered at open")
        #expect(try await durable(journal, entry(4)) == 4, "ids continue after a reopen")
    }

    @Test func idsNeverRepeatOnceTheJournalWasEmptied() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let db = try RocksDB(path: dir.path)
            let journal = try InvocationJournal(db: db, logger: logger)
            for n in 1...5 { _ = try await durable(journal, entry(n)) }
            for id in 1...5 { journal.remove(UInt64(id)) }
            journal.close()
            #expect(journal.count == 0 && journal.bytes == 0)
            db.close()
        }
        let journal = try InvocationJournal(db: try RocksDB(path: dir.path), logger: logger)
        defer { journal.close() }
        #expect(try journal.entries().isEmpty)
        #expect(try await durable(journal, entry(6)) == 6)
    }

    @Test func anUnreadableEntryIsSkippedAndCounted() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        do {
            let journal = try InvocationJournal(db: db, logger: logger)
            for n in 1...3 { _ = try await durable(journal, entry(n)) }
            journal.close()
        }
        try db.put(JournalFormat.key(2), [0xDE, 0xAD, 0xBE, 0xEF])  // bit rot
        let journal = try InvocationJournal(db: db, logger: logger)
        defer { journal.close() }
        #expect(try journal.entries().map(\.id) == [1, 3])
        #expect(journal.unreadable == 1)
        #expect(journal.count == 3, "the unreadable entry is still stored until removed")
        #expect(try InvocationJournal.contents(db: db).unreadable.map(\.id) == [2])
        journal.remove(2)
        #expect(await eventually { journal.count == 2 })
    }

    @Test func aFailedWriteFailsItsGroupAndLaterGroupsSucceed() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let journal = try InvocationJournal(db: db, logger: logger)
        defer { journal.close() }
        let first = try await durable(journal, entry(1))

        journal.injectedFailures.store(1, ordering: .relaxed)
        await #expect(throws: InjectedWriteFailure.self) { try await durable(journal, entry(2)) }
        #expect(journal.count == 1, "the failed group's record is dropped")

        // A removal whose write fails is kept and rides the next group.
        journal.injectedFailures.store(1, ordering: .relaxed)
        journal.remove(first)
        #expect(await eventually { journal.injectedFailures.load(ordering: .relaxed) == 0 })
        let third = try await durable(journal, entry(3))
        #expect(try journal.entries().map(\.id) == [third])
        #expect(journal.count == 1)

        // A store that fails every write (here: closed under the journal) fails callbacks, no crash, no spin.
        db.close()
        await #expect(throws: RocksDBError.self) { try await durable(journal, entry(4)) }
        journal.close()
        await #expect(throws: JournalClosed.self) { try await durable(journal, entry(5)) }
    }
}
