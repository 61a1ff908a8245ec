import Synchronization
import Testing
import WeirCore

@Suite struct ProgressWatchTests {
    let second: UInt64 = 1_000_000_000

    @Test func onlyALoopBusyWithoutProgressForTheWholeLimitIsStalled() {
        let ingest = ProgressMark(name: "ingest")
        let outbox = ProgressMark(name: "outbox cloud")
        let watch = ProgressWatch([ingest, outbox])
        let start = monotonicNanos()
        // Idle loops never stall.
        #expect(watch.stalled(limit: .seconds(10), now: start + 60 * second).isEmpty)
        // Busy and moving: fine.
        ingest.begin()
        ingest.advance()
        #expect(watch.stalled(limit: .seconds(10), now: start + 61 * second).isEmpty)
        ingest.advance()
        #expect(watch.stalled(limit: .seconds(10), now: start + 80 * second).isEmpty)
        // Busy and not moving, but not for the whole limit yet.
        #expect(watch.stalled(limit: .seconds(10), now: start + 85 * second).isEmpty)
        let stalled = watch.stalled(limit: .seconds(10), now: start + 91 * second)
        #expect(stalled.map(\.name) == ["ingest"])
        #expect(stalled.first?.for == .seconds(11))
        // It moves again: no longer stalled.
        ingest.advance()
        #expect(watch.stalled(limit: .seconds(10), now: start + 92 * second).isEmpty)
        // Out of work: idle, however long.
        ingest.end()
        #expect(watch.stalled(limit: .seconds(10), now: start + 500 * second).isEmpty)
    }

    @Test func anExemptWaitIsNotAStall() {
        let box = Flag()
        let ingest = ProgressMark(name: "ingest", exempt: { box.value.load(ordering: .relaxed) })
        let watch = ProgressWatch([ingest])
        let start = monotonicNanos()
        ingest.begin()
        box.value.store(true, ordering: .relaxed)
        #expect(watch.stalled(limit: .seconds(10), now: start + 100 * second).isEmpty, "backpressure, however long")
        box.value.store(false, ordering: .relaxed)
        #expect(watch.stalled(limit: .seconds(10), now: start + 105 * second).isEmpty, "the limit counts from the end of the wait")
        #expect(watch.stalled(limit: .seconds(10), now: start + 116 * second).map(\.name) == ["ingest"])
    }
}

final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}
