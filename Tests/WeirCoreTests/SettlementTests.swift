import Testing
import WeirCore

@Suite struct SettlementTests {
    struct Full: UnsettledError {
        var description: String { "disk full" }
    }

    struct Final: Error {}

    @Test func completesOnlyWhenSealedAndEveryEffectHasEnded() {
        let settlement = Settlement()
        settlement.begin()
        settlement.begin()
        settlement.end()
        #expect(settlement.outcome == nil)
        settlement.seal()
        #expect(settlement.outcome == nil, "one effect is still pending")
        settlement.end(Final())
        #expect(settlement.outcome == .settled, "a failure that is final is settled")
        #expect(settlement.wait(timeout: .milliseconds(1)) == .settled)
    }

    @Test func anUnsettledEffectMakesTheBatchUnsettledWithTheFirstReason() async {
        let settlement = Settlement()
        settlement.begin()
        settlement.begin()
        settlement.seal()
        settlement.end(Full())
        settlement.end(Final())
        #expect(await settlement.value() == .unsettled(reason: "disk full"))
    }

    @Test func waitingTimesOutWhilePendingAndAnEmptyBatchIsSettledWhenSealed() {
        let pending = Settlement()
        pending.begin()
        pending.seal()
        #expect(pending.wait(timeout: .milliseconds(20)) == nil)
        let empty = Settlement()
        empty.seal()
        #expect(empty.outcome == .settled)
        #expect(Settlement.refused(Full()).outcome == .unsettled(reason: "disk full"))
    }
}
