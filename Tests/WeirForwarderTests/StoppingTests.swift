import Foundation
import Testing
import WeirCore

@testable import WeirForwarder
@testable import WeirStore

@Suite struct StoppingTests {
    /// `run` returns once `isStopping` turns true, both idle and after traffic.
    @Test func runReturnsWhenAsked() async throws {
        try await withHarness(configuration()) { h in
            let idle = FakeSender()
            h.start(idle)
            h.requestStop()
            #expect(await h.stopped(), "idle")
            try await h.append(1, count: 2)
            let busy = FakeSender()
            h.start(busy)
            #expect(await until { h.outbox.depth == 0 && busy.delivered.count == 1 })
            h.requestStop()
            #expect(await h.stopped(), "after a batch")
            #expect(idle.attempts.isEmpty)
        }
    }

    enum StopBy: String, CaseIterable, Sendable {
        /// `isStopping`, then the upstream fails the send in flight (`Upstream.shutdown`).
        case flagThenShutdown
        /// Task cancellation, then `Upstream.shutdown` (what `ForwarderService` does).
        case cancelThenShutdown
        /// Task cancellation with a sender that honours it.
        case cancelAlone
    }

    /// A batch in flight when the forwarder is stopped stays in the outbox, and a later run sends it with the same ids.
    @Test(arguments: StopBy.allCases)
    func aBatchInFlightStaysQueuedWhenStopped(by stop: StopBy) async throws {
        try await withHarness(configuration(maxEvents: 3)) { h in
            try await h.append(1, count: 3)
            let sender = FakeSender([stop == .cancelAlone ? .hangCancellable : .hang])
            h.start(sender)
            #expect(await until { sender.isHanging })
            switch stop {
            case .flagThenShutdown:
                h.requestStop()
                sender.shutdown()
            case .cancelThenShutdown:
                h.cancel()
                sender.shutdown()
            case .cancelAlone:
                h.cancel()
            }
            #expect(await h.stopped())
            #expect(sender.delivered.isEmpty)
            #expect(h.outbox.depth == 3)
            #expect(try h.outbox.peek(maxRecords: 10).map(\.sequence) == [1, 2, 3])
            #expect(try h.outbox.stats().sent == 0)

            let next = FakeSender()
            h.start(next)
            #expect(await until { next.delivered.count == 1 && h.outbox.depth == 0 })
            #expect(try ids(next.delivered[0]) == ids(1...3), "sent again, same ids")
        }
    }

    /// Cancelling during the max delay wait returns without sending the partial batch.
    @Test func cancellingDuringTheBatchDelayReturnsAndSendsNothing() async throws {
        try await withHarness(configuration(maxEvents: 100, maxDelay: .seconds(600))) { h in
            try await h.append(1, count: 2)
            let sender = FakeSender()
            h.start(sender)
            // The loop has read the partial batch; now it waits out the delay.
            #expect(await until { h.outbox.reads.load(ordering: .relaxed) >= 1 })
            h.cancel()
            #expect(await h.stopped())
            #expect(sender.attempts.isEmpty)
            #expect(h.outbox.depth == 2)
        }
    }
}
