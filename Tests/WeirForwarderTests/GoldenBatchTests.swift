import Foundation
import Testing
import WeirCore
import WeirStore
import WeirZstd

@testable import WeirForwarder

/// The spliced batch (rows stored as `StoredRow`) against the path it replaced: each row stored as
/// `{rule, topic, time, data}` JSON, parsed into an `OutboxRecord`, then `CloudEvents.batch`.
@Suite struct GoldenBatchTests {
    /// Rows with what could go wrong in a splice: escapes in every string, unicode, doubles,
    /// nesting, empty objects, times across leap days and the ends of the fast time path.
    static let rows: [OutboxRecord] = [
        row(1),
        OutboxRecord(rule: "over\"heat\\", topic: "a/\u{1}b\n/\t\r", time: 0, data: [:]),
        OutboxRecord(
            rule: "règle", topic: "sensors/é/🌡", time: 951_782_400_123,  // 2000-02-29
            data: ["t": .double(21.5), "whole": .double(5), "neg": .int(-7), "big": .double(1e21), "small": .double(1e-7)]),
        OutboxRecord(
            rule: "r", topic: "t", time: 253_402_300_799_999,  // 9999-12-31T23:59:59.999Z
            data: ["nested": .object(["a": .array([.null, .bool(true), .string("x\"y")])]), "s": "\u{7F}"]),
        OutboxRecord(rule: "r", topic: "t", time: 253_402_300_800_000, data: ["n": 1]),  // past the fast time path
        OutboxRecord(rule: "", topic: "", time: 1_709_251_199_999, data: ["k": .string("")]),  // 2024-02-29T23:59:59.999Z
    ]

    /// The bytes the old path produced for `rows` with these sequences.
    static func oldBatch(_ rows: [OutboxRecord], first: UInt64, gateway: String) throws -> [UInt8] {
        let records = try rows.enumerated().map { (first + UInt64($0.offset), try OutboxRecord(decoding: $0.element.legacyEncoded())) }
        return CloudEvents.batch(records.map { (sequence: $0.0, record: $0.1) }, gatewayID: gateway)
    }

    @Test func splicedBatchIsByteIdenticalToTheParsedAndReserialisedOne() throws {
        for gateway in ["gw-01", "g\"w\\é"] {
            let writer = CloudEventsBatchWriter(gatewayID: gateway)
            let spliced = Self.rows.enumerated().map { offset, record -> SplicedRow in
                let row = record.encoded()
                return (UInt64(offset) + 99_999, row, StoredRow.pieces(row)!)
            }
            let new = writer.batch(spliced)
            let old = try Self.oldBatch(Self.rows, first: 99_999, gateway: gateway)
            #expect(new == old, "\(String(decoding: new, as: UTF8.self))\n\(String(decoding: old, as: UTF8.self))")
            #expect(try Zstd.compress(new) == Zstd.compress(old))
        }
    }

    /// Pinned text, so old and new paths cannot drift together.
    @Test func oneEventMatchesTheDocumentedShape() {
        let row = row(1).encoded()
        let batch = CloudEventsBatchWriter(gatewayID: "gw").batch([(7, row, StoredRow.pieces(row)!)])
        let expected =
            #"[{"specversion":"1.0","id":"gw-7","source":"weir://gw/overheat","type":"overheat","subject":"sensors/1/temp","#
            + #""time":"2023-11-14T22:13:20.001Z","datacontenttype":"application/json","data":{"n":1,"unit":"celsius","ok":false}}]"#
        #expect(String(decoding: batch, as: UTF8.self) == expected)
    }

    /// A priority class other than normal puts its name in the id; the spliced and the reference
    /// paths agree on it.
    @Test func aClassNamesItselfInTheID() throws {
        let row = row(1).encoded()
        let writer = CloudEventsBatchWriter(gatewayID: "gw")
        let high = String(decoding: writer.batch([(7, row, StoredRow.pieces(row)!)], priority: .high), as: UTF8.self)
        #expect(high.hasPrefix(#"[{"specversion":"1.0","id":"gw-high-7","source""#), "\(high)")
        let record = try OutboxRecord(decoding: row)
        for priority in OutboxPriority.allCases {
            let spliced = writer.batch([(7, row, StoredRow.pieces(row)!)], priority: priority)
            #expect(spliced == CloudEvents.batch([(sequence: 7, record: record)], gatewayID: "gw", priority: priority))
        }
    }

    @Test func fastTimeFormattingMatchesRFC3339() {
        var generator = SystemRandomNumberGenerator()
        var times: [Int64] = [0, 999, 1000, 86_399_999, 951_782_400_000, 4_107_542_400_000, 253_402_300_799_999]
        for _ in 0..<20_000 { times.append(Int64.random(in: 0..<253_402_300_800_000, using: &generator)) }
        for millis in times {
            var out: [UInt8] = []
            appendRFC3339(millis: millis, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == rfc3339(millis: millis), "\(millis)")
        }
    }

    /// Through the real forwarder, compressed and not: the payload sent equals the old path's.
    @Test(arguments: [true, false])
    func forwardedPayloadEqualsTheOldPath(compression: Bool) async throws {
        try await withHarness(configuration(maxEvents: Self.rows.count, compression: compression)) { h in
            for record in Self.rows { _ = try await h.outbox.append(record.encoded()) }
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            let old = try Self.oldBatch(Self.rows, first: 1, gateway: Harness.gateway)
            #expect(try sender.delivered.first == (compression ? Zstd.compress(old) : old))
        }
    }

    /// Rows stored in format 1 by the code before format 2 (`legacyEncoded`, pinned here byte for
    /// byte) are still read, and sent exactly as before, mixed with format 2 rows; a rejected
    /// batch's dead letter holds `{rule, topic, time, data}` for both.
    @Test func formatOneRowsAreReadAndSentAsBefore() async throws {
        let legacy = Array(
            #"{"rule":"overheat","topic":"sensors/1/temp","time":1700000000001,"data":{"n":1,"unit":"celsius","ok":false}}"#.utf8)
        #expect(row(1).legacyEncoded() == legacy)
        #expect(try OutboxRecord(decoding: legacy) == row(1))
        #expect(try OutboxRecord(decoding: row(1).encoded()) == row(1))
        #expect(row(1).encoded().first == StoredRow.version)
        try await withHarness(configuration(maxEvents: 4)) { h in
            _ = try await h.outbox.append(legacy)
            _ = try await h.outbox.append(row(2).encoded())
            _ = try await h.outbox.append(row(3).legacyEncoded())
            _ = try await h.outbox.append(row(4).encoded())
            for n in 5...8 { _ = try await h.outbox.append(row(n).legacyEncoded()) }
            let sender = FakeSender([.succeed, .reject])
            h.start(sender)
            #expect(await until { sender.attempts.count == 2 && h.outbox.depth == 0 })
            #expect(try sender.delivered.first == Zstd.compress(Self.oldBatch((1...4).map(row), first: 1, gateway: Harness.gateway)))
            let letter = try #require(try h.deadLetters.list().first)
            #expect(letter.payload == .array((5...8).map { row($0).json }))
        }
    }
}
