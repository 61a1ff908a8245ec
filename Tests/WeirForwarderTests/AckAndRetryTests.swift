import Foundation
import Testing
import WeirCore
import WeirStore

@testable import WeirForwarder

@Suite struct AckAndRetryTests {
    /// Rows stay in the outbox while the send is in flight and are deleted once it returned; depth goes back to 0.
    @Test func rowsAreAcknowledgedOnlyAfterTheSenderReturned() async throws {
        try await withHarness(configuration(maxEvents: 5)) { h in
            try await h.append(1, count: 5)
            let sender = FakeSender([.hang])
            h.start(sender)
            #expect(await until { sender.isHanging })
            #expect(h.outbox.depth == 5)
            #expect(try h.outbox.peek(maxRecords: 10).map(\.sequence) == Array(1...5))
            #expect(h.depthGauge == 5)
            sender.release(.success(()))
            #expect(await until { h.outbox.depth == 0 })
            #expect(try h.outbox.stats().sent == 5)
            #expect(try h.outbox.peek(maxRecords: 10).isEmpty)
            #expect(await until { h.depthGauge == 0 }, "the depth gauge follows")
            #expect(h.counter("weir_forwarded_events_total") == 5)
        }
    }

    /// The committer records the depth: it follows appends while the forwarder backs off with the
    /// upstream down (before, only the forwarder's loop recorded it, once per retry).
    @Test func theDepthGaugeFollowsAppendsWhileTheUpstreamIsDown() async throws {
        try await withHarness(configuration(maxEvents: 5, retryInitial: .seconds(600), retryMax: .seconds(600))) { h in
            try await h.append(1, count: 2)
            #expect(h.depthGauge == 2, "recorded by the commit, before any forwarder runs")
            let sender = FakeSender([.fail])
            h.start(sender)
            #expect(await until { sender.attempts.count == 1 })
            try await h.append(3, count: 7)
            #expect(h.depthGauge == 9, "recorded while the forwarder waits out a 600 s backoff")
            #expect(sender.attempts.count == 1)
        }
    }

    /// An unavailable upstream is retried as soon as it is back, not after the backoff (here 600 s).
    @Test func anUnavailableUpstreamIsRetriedWhenItIsBackNotAfterTheBackoff() async throws {
        try await withHarness(configuration(maxEvents: 5, retryInitial: .seconds(600), retryMax: .seconds(600))) { h in
            try await h.append(1, count: 3)
            let sender = FakeSender([.unavailable])
            h.start(sender)
            #expect(await until { sender.availabilityWaits == 1 })
            #expect(sender.delivered.isEmpty)
            sender.makeAvailable()
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            #expect(try ids(sender.delivered[0]) == ids(1...3))
        }
    }

    /// A failed send leaves the batch queued; it is sent again with the same ids in the same order.
    @Test func aFailedBatchStaysQueuedAndIsResentWithTheSameIds() async throws {
        try await withHarness(configuration(maxEvents: 5)) { h in
            try await h.append(1, count: 5)
            let sender = FakeSender([.fail, .fail], observe: { h.outbox.depth })
            h.start(sender)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            let attempts = sender.attempts
            #expect(attempts.count == 3)
            #expect(try attempts.map { try ids($0.payload) } == Array(repeating: ids(1...5), count: 3))
            #expect(attempts.map(\.observed) == [5, 5, 5], "nothing was deleted before a send returned")
            #expect(try ids(sender.delivered[0]) == ids(1...5))
            #expect(h.counter("weir_forward_failures_total") == 2)
            #expect(h.counter("weir_forwarded_events_total") == 5, "counted once, when delivered")
            #expect(try h.outbox.stats().sent == 5)
        }
    }

    /// Rows appended while a batch is failing join its retry after the same ids; nothing is skipped.
    @Test func aRetriedBatchKeepsItsPrefixWhenRowsArrive() async throws {
        try await withHarness(configuration(maxEvents: 10)) { h in
            try await h.append(1, count: 3)
            let sender = FakeSender([.hang])
            h.start(sender)
            #expect(await until { sender.isHanging })
            try await h.append(4, count: 2)
            sender.release(.failure(TransientFailure()))
            #expect(await until { h.outbox.depth == 0 })
            let sent = try sender.attempts.map { try ids($0.payload) }
            #expect(sent.first == ids(1...3))
            #expect(sent.dropFirst().first == ids(1...5), "the retry starts at the same row")
            #expect(try sender.delivered.flatMap { try ids($0) } == ids(1...5))
        }
    }

    /// Transient errors are retried, waiting longer each time (lower bounds only: 0.5 x a doubling backoff).
    @Test func transientErrorsAreRetriedWithGrowingBackoff() async throws {
        let config = configuration(maxEvents: 2, retryInitial: .milliseconds(20), retryMax: .milliseconds(80))
        try await withHarness(config) { h in
            try await h.append(1, count: 2)
            let sender = FakeSender(Array(repeating: .fail, count: 5))
            h.start(sender)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            let attempts = sender.attempts
            #expect(attempts.count == 6)
            #expect(h.counter("weir_forward_failures_total") == 5)
            let gaps = zip(attempts.dropFirst(), attempts).map { $0.at - $1.at }
            let floors: [Duration] = [10, 20, 40, 40, 40].map { .milliseconds($0) }
            #expect(gaps.count == floors.count && zip(gaps, floors).allSatisfy { $0 >= $1 }, "gaps \(gaps)")
        }
    }

    /// `BatchRejected` dead-letters the batch (kind "upstream", the rows as payload) and the next batch is sent.
    @Test func aRejectedBatchIsDeadLetteredAndTheForwarderMovesOn() async throws {
        try await withHarness(configuration(maxEvents: 3)) { h in
            try await h.append(1, count: 6)
            let sender = FakeSender([.fail, .reject])
            h.start(sender)
            #expect(await until { sender.delivered.count == 1 && h.outbox.depth == 0 })
            #expect(try sender.attempts.map { try ids($0.payload) } == [ids(1...3), ids(1...3), ids(4...6)])
            #expect(try ids(sender.delivered[0]) == ids(4...6))
            let letters = try h.deadLetters.list()
            #expect(letters.count == 1)
            let letter = try #require(letters.first)
            #expect(letter.kind == "upstream")
            #expect(letter.target == "cloud")
            #expect(letter.attempts == 2, "the failed try and the rejected one")
            #expect(letter.error.contains("schema mismatch"))
            #expect(letter.payload == .array((1...3).map { row($0).json }))
            #expect(h.counter("weir_dead_letters_total") == 3)
            #expect(h.counter("weir_forwarded_events_total") == 3, "only the delivered batch")
        }
    }
}
