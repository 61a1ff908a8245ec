import Dispatch
import Glibc
import Synchronization
import Testing

@testable import WeirCore

/// An atomic counter closures can share.
private final class Count: Sendable {
    let value = Atomic<Int>(0)
}

/// Jobs' numbers in the order they ran.
private final class Order: Sendable {
    let list = Mutex<[Int]>([])
}

@Suite struct BlockingThreadsTests {
    /// Five blocking jobs that can only finish together: they need five threads at once, more
    /// than the cores of a small gateway (where Dispatch's global queue would run two).
    @Test func blockingJobsRunAtOnceUpToTheLimit() async {
        let threads = BlockingThreads(limit: 5, name: "test")
        let arrived = Count()
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    await threads.run {
                        arrived.value.add(1, ordering: .relaxed)
                        let deadline = DispatchTime.now() + .seconds(10)
                        while arrived.value.load(ordering: .relaxed) < 5 {
                            if DispatchTime.now() > deadline { return false }
                            usleep(1_000)
                        }
                        return true
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == [true, true, true, true, true])
    }

    @Test func jobsBeyondTheLimitWaitTheirTurn() async {
        let threads = BlockingThreads(limit: 2, name: "test")
        let running = Count()
        let peak = Count()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    await threads.run {
                        let now = running.value.add(1, ordering: .relaxed).newValue
                        var seen = peak.value.load(ordering: .relaxed)
                        while now > seen, !peak.value.compareExchange(expected: seen, desired: now, ordering: .relaxed).exchanged {
                            seen = peak.value.load(ordering: .relaxed)
                        }
                        usleep(20_000)
                        running.value.subtract(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(peak.value.load(ordering: .relaxed) <= 2)
    }

    /// A serial lane runs jobs one at a time in submission order, and a `run` after `submit`s
    /// starts only once they are done (what a flush relies on).
    @Test func serialLaneKeepsSubmissionOrder() async {
        let lane = BlockingThreads.serial(name: "test-serial")
        let order = Order()
        for i in 0..<100 {
            lane.submit {
                if i % 10 == 0 { usleep(1_000) }
                order.list.withLock { $0.append(i) }
            }
        }
        let seen = await lane.run { order.list.withLock { $0 } }
        #expect(seen == Array(0..<100))
        #expect(lane.limit == 1)
    }

    @Test func throwingWorkRethrows() async {
        struct Refused: Error {}
        let threads = BlockingThreads(limit: 2, name: "test")
        await #expect(throws: Refused.self) { try await threads.run { () throws -> Int in throw Refused() } }
        let value = try? await threads.run { () throws -> Int in 42 }
        #expect(value == 42)
    }

    /// Released, an instance ends its threads once the queued jobs have run.
    @Test func queuedJobsRunAfterTheInstanceIsReleased() async {
        let done = Count()
        var threads: BlockingThreads? = BlockingThreads(limit: 3, name: "test-release")
        _ = await threads!.run { 0 }
        for _ in 0..<20 {
            threads!.submit {
                usleep(1_000)
                done.value.add(1, ordering: .relaxed)
            }
        }
        threads = nil
        let deadline = DispatchTime.now() + .seconds(10)
        while done.value.load(ordering: .relaxed) < 20, DispatchTime.now() < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        #expect(done.value.load(ordering: .relaxed) == 20)
    }
}
