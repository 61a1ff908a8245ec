import Foundation
import Synchronization
import Testing
import WeirCore
import WeirRocksDB

@testable import WeirForwarder
@testable import WeirStore

/// How the forwarder reads its outbox: woken by the committer, each row read once.
@Suite struct ForwardPathTests {
    func reads(_ h: Harness) -> Int { h.outbox.reads.load(ordering: .relaxed) }

    /// Idle, the forwarder is parked on the outbox (no reads while nothing comes); a row appended
    /// then is sent because the commit wakes it.
    @Test func aRowAppendedWhileIdleIsSentWhenTheCommitWakesTheForwarder() async throws {
        try await withHarness(configuration(maxEvents: 1)) { h in
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { h.outbox.waitingReaders == 1 })
            #expect(reads(h) == 1, "one look at the empty outbox, then parked")
            try await h.append(1, count: 1)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            #expect(try ids(sender.delivered[0]) == ids(1...1))
            #expect(await until { h.outbox.waitingReaders == 1 })
            #expect(reads(h) == 3, "the batch, then the empty outbox again: no polling reads")
        }
    }

    /// A partial batch keeps the rows it read while it waits: a row changed in the store after it
    /// was read is sent as read (a second read would find it unreadable), rows committed
    /// meanwhile join it, and it goes as soon as it is full, not at max_delay.
    @Test func aPartialBatchIsReadOnceAndSentWhenFull() async throws {
        try await withHarness(configuration(maxEvents: 50, maxDelay: .seconds(600))) { h in
            try await h.append(1, count: 1)
            let sender = FakeSender()
            h.start(sender)
            #expect(await until { h.outbox.waitingReaders == 1 && reads(h) == 1 }, "row 1 read, waiting for more")
            try h.db.put(Array("outbox/\(Harness.upstream)/".utf8) + [UInt8](bigEndian: 1), [0xFF], sync: true)
            let tickets = (2...50).map { h.outbox.enqueue(row($0).encoded()) }
            for ticket in tickets { _ = try await ticket.sequence }
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            let sent = try events(sender.delivered[0])
            #expect(sent.map { $0["id"]?.stringValue ?? "?" } == ids(1...50))
            #expect(sent.first?["data"] == .object(row(1).data))
            #expect(try h.deadLetters.list().isEmpty, "row 1 was not read again")
            #expect(reads(h) <= 1 + 49 + 1, "each read after the first brought new rows")
            #expect(try h.outbox.stats().bytes == 0)
        }
    }

    /// The acknowledgement carries the rows' stored sizes: the outbox's byte total comes back to
    /// zero from the sizes read, not from reading the rows again (here changed in between).
    @Test func acknowledgementsCarryTheirByteCounts() async throws {
        try await withHarness(configuration()) { h in
            try await h.append(1, count: 5)
            let entries = try h.outbox.peek(maxRecords: 10)
            #expect(try h.outbox.stats().bytes == UInt64(entries.reduce(0) { $0 + $1.storedBytes }))
            for entry in entries { try h.db.put(Array("outbox/\(Harness.upstream)/".utf8) + [UInt8](bigEndian: entry.sequence), [1]) }
            let before = reads(h)
            try await h.outbox.acknowledge(entries)
            #expect(try h.outbox.stats().bytes == 0, "a re-read would have subtracted 1 byte per row")
            #expect(try h.outbox.stats().sent == 5)
            #expect(reads(h) == before)
        }
    }
}
