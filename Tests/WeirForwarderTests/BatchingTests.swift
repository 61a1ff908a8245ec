import Foundation
import Testing
import WeirCore
import WeirStore
import WeirZstd

@testable import WeirForwarder

@Suite struct BatchingTests {
    /// Full batches (max events) go at once; the remainder waits max delay; rows come out in order.
    @Test func batchesAreCappedByMaxEventsAndComeOutInOrder() async throws {
        try await withHarness(configuration(maxEvents: 4, maxDelay: .milliseconds(300))) { h in
            try await h.append(1, count: 10)
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { sender.delivered.count == 3 && h.outbox.depth == 0 })
            let batches = try sender.delivered.map { try ids($0) }
            #expect(batches == [ids(1...4), ids(5...8), ids(9...10)])
            let attempts = sender.attempts
            #expect(attempts.count == 3)
            // Only the partial last batch waited (a lower bound: sleeps never end early).
            #expect(attempts[2].at - attempts[1].at >= .milliseconds(300))
        }
    }

    /// Batches stop before max bytes of stored rows (9-byte header + record), at least one row each.
    @Test func batchesAreCappedByMaxBytes() async throws {
        let stored = 9 + row(1).encoded().count
        try await withHarness(configuration(maxBytes: 3 * stored + stored / 2)) { h in
            try await h.append(1, count: 9)
            let pad = String(repeating: "x", count: 5 * stored)
            let big = OutboxRecord(rule: "overheat", topic: "big", time: 1, data: ["pad": .string(pad)])
            _ = try await h.outbox.append(big.encoded())
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { sender.delivered.count == 4 && h.outbox.depth == 0 })
            let batches = try sender.delivered.map { try ids($0) }
            #expect(batches == [ids(1...3), ids(4...6), ids(7...9), ids(10...10)], "a row larger than max bytes goes alone")
        }
    }

    /// With a payload limit (MQTT upstreams), no payload sent is larger than it: batches are cut to
    /// fit after encoding, and a row that alone encodes larger is dead-lettered, not retried for ever.
    @Test(arguments: [true, false])
    func payloadsNeverExceedTheLimitAndAnOversizedRowIsDeadLettered(compression: Bool) async throws {
        var config = configuration(maxEvents: 100, maxBytes: 1 << 20, compression: compression)
        let limit = 1500
        config.maxPayloadBytes = limit
        try await withHarness(config) { h in
            try await h.append(1, count: 30)
            // Random bytes as hex: compression cannot shrink it under the limit.
            let noise = (0..<4000).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
            let big = OutboxRecord(rule: "overheat", topic: "big", time: 1, data: ["pad": .string(noise)])
            _ = try await h.outbox.append(big.encoded())
            try await h.append(32, count: 5)
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { h.outbox.depth == 0 })
            #expect(sender.attempts.allSatisfy { $0.payload.count <= limit }, "\(sender.attempts.map(\.payload.count))")
            let sent = try sender.delivered.flatMap { try ids($0, compressed: compression) }
            #expect(sent == ids(1...30) + ids(32...36), "every other row, in order")
            #expect(sender.delivered.count > 1, "the rows did not fit one payload")
            let letters = try h.deadLetters.list()
            #expect(letters.count == 1)
            #expect(letters.first?.kind == "upstream")
            #expect(letters.first?.error.contains("batch.max_bytes (1500 bytes)") == true)
            #expect(letters.first?.payload == .array([big.json]))
        }
    }

    /// A partial batch waits max delay before it is sent, and rows appended meanwhile join it.
    @Test func aPartialBatchWaitsMaxDelayAndTakesRowsAppendedMeanwhile() async throws {
        try await withHarness(configuration(maxEvents: 100, maxDelay: .seconds(2))) { h in
            try await h.append(1, count: 1)
            let sender = FakeSender()
            let started = ContinuousClock.now
            h.start(sender)
            let tickets = (2...4).map { h.outbox.enqueue(row($0).encoded()) }
            for ticket in tickets { _ = try await ticket.sequence }
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            #expect(try ids(sender.delivered[0]) == ids(1...4))
            #expect(sender.attempts.count == 1)
            #expect(sender.attempts[0].at - started >= .seconds(2))
        }
    }

    /// Each event is a CloudEvents 1.0 structured event built from its row; zstd only when compression is on.
    @Test(arguments: [true, false])
    func eventsCarryTheCloudEventsFields(compression: Bool) async throws {
        try await withHarness(configuration(compression: compression)) { h in
            try await h.append(1, count: 3)
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            let payload = try #require(sender.delivered.first)
            let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
            #expect(Array(payload.prefix(4)) == zstdMagic || !compression)
            #expect(compression || payload.first == UInt8(ascii: "["), "plain JSON array without compression")
            let decoded = try events(payload, compressed: compression)
            #expect(decoded.count == 3)
            for (n, event) in zip(1...3, decoded) {
                let record = row(n)
                #expect(event["specversion"] == "1.0")
                #expect(event["id"] == .string("gw-\(n)"))
                #expect(event["source"] == "weir://gw/overheat")
                #expect(event["type"] == "overheat")
                #expect(event["subject"] == .string(record.topic))
                #expect(event["time"] == .string(rfc3339(millis: record.time)))
                #expect(event["datacontenttype"] == "application/json")
                #expect(event["data"] == .object(record.data))
            }
            #expect(h.counter("weir_forwarded_events_total") == 3)
            #expect(h.counter("weir_forwarded_bytes_total") == Int64(payload.count))
        }
    }

    /// Sequences (so event ids) keep increasing across batches and after the outbox empties.
    @Test func idsKeepIncreasingAfterTheOutboxEmpties() async throws {
        try await withHarness(configuration()) { h in
            let sender = FakeSender()
            h.start(sender)
            try await h.append(1, count: 2)
            #expect(await until { h.outbox.depth == 0 && sender.delivered.count >= 1 })
            try await h.append(3, count: 2)
            #expect(await until { h.outbox.depth == 0 && sender.delivered.flatMap { (try? ids($0)) ?? [] }.count == 4 })
            #expect(try sender.delivered.flatMap { try ids($0) } == ids(1...4))
        }
    }
}
