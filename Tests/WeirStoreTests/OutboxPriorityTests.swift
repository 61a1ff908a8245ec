import Foundation
import Testing
import WeirCore
import WeirRocksDB
import WeirTestSupport

@testable import WeirStore

/// Priority classes: read highest first, order kept within a class, the lowest dropped first when
/// full, and all of it across a reopen, against a real RocksDB.
@Suite struct OutboxPriorityTests {
    let record = [UInt8](repeating: 0x61, count: 91)  // 100 bytes stored with the 9-byte header

    func body(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func theHighestClassIsReadFirstAndEachKeepsItsOrder() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-prio")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud")
        defer { outbox.close() }
        for n in 1...5 { _ = try await outbox.append(body("n\(n)")) }
        for n in 1...3 { _ = try await outbox.append(body("l\(n)"), priority: .low) }
        for n in 1...2 { _ = try await outbox.append(body("h\(n)"), priority: .high) }
        #expect(outbox.depth == 10)

        var order: [String] = []
        while case let batch = try outbox.peek(maxRecords: 2), !batch.isEmpty {
            #expect(Set(batch.map(\.priority)).count == 1, "a read holds one class")
            order += batch.map { String(decoding: $0.record, as: UTF8.self) }
            try await outbox.acknowledge(batch)
        }
        #expect(order == ["h1", "h2", "n1", "n2", "n3", "n4", "n5", "l1", "l2", "l3"])
        let stats = try outbox.stats()
        #expect(stats.depth == 0)
        #expect(stats.sent == 10)
        #expect(stats.classes.map(\.priority) == [.high, .normal, .low])
    }

    @Test func aFullOutboxDropsTheLowestClassFirstAndCountsPerClass() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-prio")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud", limits: OutboxLimits(maxBytes: 1_000, whenFull: .dropOldest))
        defer { outbox.close() }
        for _ in 1...3 { _ = try await outbox.append(record, priority: .high) }
        for _ in 1...4 { _ = try await outbox.append(record, priority: .low) }
        for _ in 1...3 { _ = try await outbox.append(record) }
        // Full (10 x 100 bytes). Five more normal rows: the four low ones go, then the oldest normal.
        for _ in 1...5 { _ = try await outbox.append(record) }
        var stats = try outbox.stats()
        #expect(stats.depth == 10)
        #expect(stats.bytes == 1_000)
        #expect(stats.dropped == 5)
        let byClass = Dictionary(uniqueKeysWithValues: stats.classes.map { ($0.priority, $0) })
        #expect(byClass[.high]?.depth == 3)
        #expect(byClass[.normal]?.depth == 7)
        #expect(byClass[.low]?.depth == 0)
        #expect(byClass[.low]?.dropped == 4)
        #expect(byClass[.normal]?.dropped == 1)
        #expect(byClass[.high]?.dropped == 0)
        // Alarms still fit: normal rows make room, high ones are kept.
        for _ in 1...4 { _ = try await outbox.append(record, priority: .high) }
        stats = try outbox.stats()
        #expect(stats.classes.first { $0.priority == .high }?.depth == 7)
        #expect(stats.classes.first { $0.priority == .normal }?.depth == 3)
        #expect(try outbox.peek(maxRecords: 100).count == 7, "the first read is the high class alone")
    }

    @Test func aGroupOverTheCapGivesWayLowestClassFirstAndRejectNewRefusesTheLowestNewest() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-prio")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let dropping = try Outbox(
            db: db, name: "a", commitInterval: .seconds(1), limits: OutboxLimits(maxBytes: 500, whenFull: .dropOldest))
        defer { dropping.close() }
        _ = try await dropping.append(record, priority: .low)
        let tickets = (0..<12).map { n in dropping.enqueue(record, priority: n % 3 == 0 ? .high : .low) }
        for ticket in tickets { _ = try await ticket.sequence }
        let kept = try dropping.stats().classes
        #expect(kept.first { $0.priority == .high }?.depth == 4, "all four high rows of the group are kept")
        #expect(kept.first { $0.priority == .low }?.depth == 1, "with the newest low one")

        let refusing = try Outbox(
            db: db, name: "b", commitInterval: .seconds(1), limits: OutboxLimits(maxBytes: 300, whenFull: .rejectNew))
        defer { refusing.close() }
        _ = try await refusing.append(record)
        let group = [OutboxPriority.low, .high, .normal, .low].map { refusing.enqueue(record, priority: $0) }
        var outcomes: [Bool] = []
        for ticket in group { outcomes.append((try? await ticket.sequence) != nil) }
        #expect(outcomes == [false, true, true, false], "two fit: the high and normal ones; the low ones are refused")
        #expect(try refusing.stats().rejected == 2)
    }

    @Test func classesSurviveAReopenAndTheReadOnlyViewsSeeThem() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-prio")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let db = try RocksDB(path: dir.path)
            let outbox = try Outbox(db: db, name: "cloud")
            _ = try await outbox.append(body("n1"))
            _ = try await outbox.append(body("h1"), priority: .high)
            _ = try await outbox.append(body("h2"), priority: .high)
            try await outbox.acknowledge(through: 1, priority: .high)
            outbox.close()
        }
        let db = try RocksDB(path: dir.path)
        #expect(try Outbox.names(db: db) == ["cloud"], "the classes are one outbox")
        let view = try Outbox.inspect(db: db, name: "cloud")
        #expect(view.depth == 2)
        #expect(view.sent == 1)
        #expect(try Outbox.peek(db: db, name: "cloud", maxRecords: 10).map { String(decoding: $0.record, as: UTF8.self) } == ["h2", "n1"])
        var stored: [OutboxPriority] = []
        try Outbox.forEachStored(db: db, name: "cloud") { stored.append($0.priority) }
        #expect(stored == [.high, .normal])
        #expect(try Outbox.metaProblem(db: db, name: "cloud") == nil)

        let outbox = try Outbox(db: db, name: "cloud")
        defer { outbox.close() }
        let first = try outbox.peek(maxRecords: 10)
        #expect(first.map(\.sequence) == [2], "the high class's sequences go on from where they were")
        #expect(first.first?.priority == .high)
        #expect(try await outbox.append(body("h3"), priority: .high) == 3)
    }
}
