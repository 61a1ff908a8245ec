import Testing
import WeirCore

@Suite struct LogThrottleTests {
    /// Which of the calls at `times` (with their keys) the throttle lets through.
    func allowed(_ throttle: inout LogThrottle, _ calls: [(key: String, now: UInt64)]) -> [Bool] {
        calls.map { throttle.allow($0.key, now: $0.now) }
    }

    @Test func letsTheFirstThroughThenOnePerInterval() {
        var throttle = LogThrottle(interval: .seconds(5))
        #expect(throttle.interval == 5_000_000_000)
        let first = allowed(&throttle, [("", 0), ("", 1_000_000_000), ("", 4_999_999_999)])
        #expect(first == [true, false, false], "the first line goes at once, even at time 0")
        #expect(throttle.suppressed() == 2)
        let next = throttle.allow(now: 5_000_000_000)
        #expect(next)
        #expect(throttle.suppressed() == 0, "the count restarts with each line let through")
        #expect(allowed(&throttle, [("", 9_000_000_000), ("", 10_000_000_000)]) == [false, true])
    }

    @Test func keysAreThrottledApart() {
        var throttle = LogThrottle(interval: .seconds(10))
        #expect(allowed(&throttle, [("a", 100), ("b", 200), ("a", 300)]) == [true, true, false])
        #expect(throttle.suppressed("a") == 1)
        #expect(throttle.suppressed("b") == 0)
        #expect(allowed(&throttle, [("a", 10_000_000_100), ("b", 10_000_000_199)]) == [true, false])
    }

    @Test func aClockReadBeforeAnotherThreadsLineIsRefused() {
        var throttle = LogThrottle(interval: .seconds(5))
        #expect(allowed(&throttle, [("", 2_000), ("", 1_000)]) == [true, false], "an earlier reading neither traps nor logs")
    }

    @Test func sharedThrottleLetsOneThroughAcrossTasks() async {
        let throttle = SharedLogThrottle(interval: .seconds(10))
        let allowed = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 { group.addTask { throttle.allow("k", now: 42) } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(allowed == 1)
        #expect(throttle.suppressed("k") == 49)
    }
}
