import Testing
import WeirCore

@Suite struct AsyncLatchTests {
    struct Failed: Error {}

    @Test func completesOnceAndWakesEveryWaiter() async throws {
        let latch = AsyncLatch<Int>()
        async let first = latch.value
        async let second = latch.value
        #expect(latch.complete(.success(7)))
        #expect(!latch.complete(.success(8)), "later results are ignored")
        #expect(try await first == 7)
        #expect(try await second == 7)
        #expect(try await latch.value == 7)
        #expect(latch.isComplete)
    }

    @Test func failureIsThrown() async {
        let latch = AsyncLatch<Int>(.failure(Failed()))
        await #expect(throws: Failed.self) { try await latch.value }
    }

    @Test func cancellableWaitEndsNilWhenCancelled() async {
        let latch = AsyncLatch<Void>()
        let waiter = Task { await latch.resultUnlessCancelled() }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        #expect(await waiter.value == nil)
        #expect(!latch.isComplete)
        latch.complete(.success(()))
        #expect(await latch.resultUnlessCancelled() != nil)
    }
}
