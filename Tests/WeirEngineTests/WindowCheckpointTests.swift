import Foundation
import Logging
import MetricsTestKit
import Testing
import WeirCore
import WeirRocksDB
import WeirRules
import WeirStore
import WeirTestSupport

@testable import WeirEngine

/// When checkpoints run: back to back while batches wait for them, at most every
/// `WindowEngine.defaultCheckpointRest` when nothing waits (`ack: receipt`).
@Suite struct WindowCheckpointTests {
    static func setUp(rest: Duration = WindowEngine.defaultCheckpointRest) throws -> (RuleSet, WindowEngine, TestMetrics, RocksDB, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weir-window-ckpt-\(UUID().uuidString)")
        let (parsed, diagnostics) = RuleLoader.parse(
            """
            name: w
            sql: SELECT device, count(*) AS n FROM "w/+/t" GROUP BY device, TUMBLING(600s)
            actions: [ { log: {} } ]
            """, file: "w.yaml")
        #expect(diagnostics.isEmpty)
        let rules = RuleSet(rules: parsed)
        let db = try RocksDB(path: dir.path)
        let factory = TestMetrics()
        let engine = WindowEngine(
            rules: rules, store: WindowStore(db: db), clock: { 1_800_000_000_000 }, logger: Logger(label: "test"), factory: factory,
            checkpointRest: rest)
        return (rules, engine, factory, db, dir)
    }

    static func input(_ rules: RuleSet, _ n: Int) -> WindowInput {
        rules.process(Event(topic: "w/s/t", payload: Array(#"{"device":"d\#(n % 10)"}"#.utf8), receivedAt: 0)).windowInputs[0]
    }

    static func saved(_ factory: TestMetrics) -> Int64 {
        (try? factory.expectCounter("weir_window_events_saved_total").totalValue) ?? 0
    }

    /// 2,000 changes made over about 600 ms with no waiter: every event is saved, by a handful of
    /// checkpoints (spaced 200 ms), not one per fsync.
    @Test func withoutWaitersCheckpointsAreSpacedAndStillSaveEverything() async throws {
        let (rules, engine, factory, db, dir) = try Self.setUp()
        defer {
            engine.close()
            db.close()
            try? FileManager.default.removeItem(at: dir)
        }
        let started = ContinuousClock.now
        for n in 0..<2_000 {
            _ = engine.add(Self.input(rules, n))
            if n % 100 == 99 { try await Task.sleep(for: .milliseconds(30)) }
        }
        let elapsed = ContinuousClock.now - started
        #expect(await eventually { Self.saved(factory) == 2_000 })
        let groups = (try? factory.expectCounter("weir_window_checkpointed_groups_total").totalValue) ?? 0
        // Each checkpoint writes the 10 groups; one per 200 ms of feeding, plus the last.
        let bound = Int64(elapsed / WindowEngine.defaultCheckpointRest) + 2
        #expect(groups <= 10 * bound, "\(groups) group writes over \(elapsed)")
    }

    /// A change a batch waits for is checkpointed at once, even while the thread rests (here for
    /// 10 minutes) and no other change would wake it.
    @Test func aWaiterIsCheckpointedWithoutWaitingOutTheRest() async throws {
        let (rules, engine, factory, db, dir) = try Self.setUp(rest: .seconds(600))
        defer {
            engine.close()
            db.close()
            try? FileManager.default.removeItem(at: dir)
        }
        _ = engine.add(Self.input(rules, 0))
        #expect(await eventually { Self.saved(factory) == 1 }, "the first checkpoint, then a rest")
        for round in 1...3 {
            _ = engine.add(Self.input(rules, round))  // wakes the resting thread, which rests on
            #expect(await eventually { engine.table.shared.withLock { $0.checkpoint.resting } })
            let settlement = Settlement()
            _ = engine.add(Self.input(rules, round + 10), settlement: settlement)
            settlement.seal()
            #expect(await eventually(timeout: .seconds(30)) { settlement.outcome == .settled })
            #expect(Self.saved(factory) == Int64(1 + 2 * round))
        }
    }
}
