import Dispatch
import Synchronization
import Testing

@testable import WeirCore

/// An atomic counter closures can share.
private final class Count: Sendable {
    let value = Atomic<Int>(0)
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
}
