import Foundation
import Testing
import WeirCore
import WeirRocksDB
import WeirStore

@testable import WeirForwarder

@Suite struct UnreadableRowTests {
    /// Overwrites the stored value of `sequence` with bytes no Weir version wrote (`peek` gives `appendedAt == -1`).
    func corrupt(_ h: Harness, _ sequence: UInt64, with value: [UInt8] = [0xFF, 0x01, 0x02]) throws {
        try h.db.put(Array("outbox/\(Harness.upstream)/".utf8) + [UInt8](bigEndian: sequence), value, sync: true)
    }

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Undecodable values and records that are not {rule, topic, time, data} are dead-lettered (kind "record");
    /// the readable rows of the batch are sent.
    @Test func unreadableRowsAreDeadLetteredAndTheRestSent() async throws {
        try await withHarness(configuration()) { h in
            try await h.append(1, count: 3)
            let notARecord = Array("not a record".utf8)
            #expect(try await h.outbox.append(notARecord) == 4)
            try await h.append(5, count: 1)
            try corrupt(h, 2)
            #expect(try h.outbox.peek(maxRecords: 10).map(\.appendedAt).map { $0 == -1 } == [false, true, false, false, false])
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            #expect(try ids(sender.delivered[0]) == ["gw-1", "gw-3", "gw-5"])
            let letters = try h.deadLetters.list()
            #expect(letters.count == 1)
            let letter = try #require(letters.first)
            #expect(letter.kind == "record")
            #expect(letter.target == "cloud")
            #expect(letter.attempts == 0)
            guard case .array(let entries) = letter.payload else {
                Issue.record("payload is not an array: \(letter.payload)")
                return
            }
            #expect(entries.map { $0["sequence"] } == [.int(2), .int(4)])
            #expect(entries.map { $0["bytes_hex"] } == [.string("ff0102"), .string(hex(notARecord))])
            #expect(h.counter("weir_dead_letters_total") == 2)
        }
    }

    /// A batch of only unreadable rows is dead-lettered and acknowledged without a send.
    @Test func aBatchOfOnlyUnreadableRowsIsDeadLetteredWithoutASend() async throws {
        try await withHarness(configuration(maxEvents: 2)) { h in
            try await h.append(1, count: 3)
            try corrupt(h, 1)
            try corrupt(h, 2, with: [])
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            #expect(try sender.attempts.map { try ids($0.payload) } == [["gw-3"]])
            let letters = try h.deadLetters.list()
            #expect(letters.map(\.kind) == ["record"])
            #expect(letters.first?.payload[0]?["sequence"] == .int(1))
            #expect(letters.first?.payload[1]?["bytes_hex"] == .string(""))
        }
    }

    /// When the send of a batch with unreadable rows is retried, those rows are dead-lettered once, not per attempt.
    @Test func unreadableRowsAreDeadLetteredOnceWhenTheSendIsRetried() async throws {
        try await withHarness(configuration(maxEvents: 3)) { h in
            try await h.append(1, count: 3)
            try corrupt(h, 2)
            let sender = FakeSender([.fail, .fail])
            h.start(sender)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            #expect(sender.attempts.count == 3)
            #expect(try sender.attempts.map { try ids($0.payload) } == Array(repeating: ["gw-1", "gw-3"], count: 3))
            let letters = try h.deadLetters.list()
            #expect(letters.count == 1, "one letter, not one per attempt")
            #expect(h.counter("weir_dead_letters_total") == 1)
        }
    }
}
