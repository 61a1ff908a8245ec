import Foundation
import Synchronization
import Testing
import WeirCore
import WeirRocksDB
import WeirTestSupport

@testable import WeirStore

@Suite struct OutboxTests {
    @Test func appendsAreDurableOrderedAndSurviveReopen() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let db = try RocksDB(path: dir.path)
            let outbox = try Outbox(db: db, name: "cloud")
            for i in 1...100 {
                let sequence = try await outbox.append(Array("r\(i)".utf8))
                #expect(sequence == UInt64(i))
            }
            #expect(outbox.depth == 100)
            try await outbox.acknowledge(through: 40)
            #expect(outbox.depth == 60)
            outbox.close()
        }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud")
        defer { outbox.close() }
        #expect(outbox.depth == 60, "head and tail recovered from the keys")
        let batch = try outbox.peek(maxRecords: 5)
        #expect(batch.map(\.sequence) == [41, 42, 43, 44, 45])
        #expect(batch.map { String(decoding: $0.record, as: UTF8.self) } == ["r41", "r42", "r43", "r44", "r45"])
        #expect(try await outbox.append(Array("next".utf8)) == 101, "sequences continue after a restart")
    }

    @Test func concurrentAppendsShareFsyncsAndKeepEveryRecord() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let outbox = try Outbox(db: db, name: "cloud", commitInterval: .milliseconds(5))
        defer { outbox.close() }
        let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for i in 0..<500 { group.addTask { try await outbox.append(Array("\(i)".utf8)) } }
            return try await group.reduce(into: [UInt64]()) { $0.append($1) }
        }
        #expect(Set(sequences) == Set(1...500))
        let all = try outbox.peek(maxRecords: 1000)
        #expect(all.map(\.sequence) == Array(1...500), "stored in sequence order")
    }

    @Test func peekHonoursTheByteBudgetAndOutboxesAreSeparate() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-outbox")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try RocksDB(path: dir.path)
        let a = try Outbox(db: db, name: "a")
        let b = try Outbox(db: db, name: "b")
        defer {
            a.close()
            b.close()
        }
        for _ in 0..<10 { _ = try await a.append([UInt8](repeating: 1, count: 100)) }
        _ = try await b.append([2])
        #expect(try a.peek(maxRecords: 100, maxBytes: 350).count == 3)
        #expect(try b.peek(maxRecords: 100).map(\.record) == [[2]])
        a.close()
        await #expect(throws: OutboxClosed.self) { try await a.append([3]) }
    }
}
