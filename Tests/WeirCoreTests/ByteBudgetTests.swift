import Testing
import WeirCore

@Suite struct ByteBudgetTests {
    /// Polls `condition` (a blocked producer thread is only visible through the budget's state).
    func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<5000 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return condition()
    }

    @Test func admitsWhatFitsAndBlocksTheRestUntilReleased() async {
        let budget = ByteBudget(capacity: 1000)
        #expect(budget.acquireBlocking(600))
        #expect(budget.acquireBlocking(400))
        let blocked = Task { await BlockingThreads.shared.run { budget.acquireBlocking(300) } }
        #expect(await eventually { budget.waiting == 1 })
        #expect(budget.held == 1000)
        budget.release(200)
        // 800 + 300 would pass the capacity: still waiting.
        #expect(budget.waiting == 1 && budget.held == 800)
        budget.release(400)
        let admitted = await blocked.value
        #expect(admitted)
        #expect(budget.held == 700 && budget.waiting == 0)
    }

    @Test func aRequestLargerThanTheWholeBudgetPassesAlone() async {
        let budget = ByteBudget(capacity: 100)
        #expect(budget.acquireBlocking(10))
        let big = Task { await BlockingThreads.shared.run { budget.acquireBlocking(5000) } }
        #expect(await eventually { budget.waiting == 1 })
        budget.release(10)
        let admitted = await big.value
        #expect(admitted)
        #expect(budget.held == 5000)
        budget.release(5000)
        #expect(budget.held == 0)
    }

    @Test func waitersAreAdmittedInArrivalOrder() async {
        let budget = ByteBudget(capacity: 100)
        #expect(budget.acquireBlocking(100))
        let first = Task { await BlockingThreads.shared.run { budget.acquireBlocking(90) } }
        #expect(await eventually { budget.waiting == 1 })
        let second = Task { await BlockingThreads.shared.run { budget.acquireBlocking(5) } }
        #expect(await eventually { budget.waiting == 2 })
        // Room for the small one only: it must not overtake the large one ahead of it.
        budget.release(50)
        #expect(budget.waiting == 2)
        budget.release(50)
        let (a, b) = (await first.value, await second.value)
        #expect(a && b)
        #expect(budget.held == 95)
    }

    @Test func finishReleasesWaitersWithARefusalAndRefusesLaterRequests() async {
        let budget = ByteBudget(capacity: 10)
        #expect(budget.acquireBlocking(10))
        let waiter = Task { await BlockingThreads.shared.run { budget.acquireBlocking(5) } }
        #expect(await eventually { budget.waiting == 1 })
        budget.finish()
        let admitted = await waiter.value
        #expect(admitted == false)
        #expect(budget.acquireBlocking(1) == false)
        #expect(budget.held == 10)
    }
}
