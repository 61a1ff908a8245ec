import Foundation
import Logging
import MetricsTestKit
import Synchronization
import Testing
import WeirRules

@testable import WeirEngine

@Suite struct CountdownTests {
    @Test func firesOnceAfterTheLastTick() {
        let fired = Mutex(0)
        let countdown = Countdown(2) { fired.withLock { $0 += 1 } }
        countdown.tick()
        #expect(fired.withLock { $0 } == 0)
        countdown.tick()
        #expect(fired.withLock { $0 } == 1)
    }

    @Test func zeroFiresAtOnce() {
        let fired = Mutex(0)
        _ = Countdown(0) { fired.withLock { $0 += 1 } }
        #expect(fired.withLock { $0 } == 1)
    }
}

@Suite struct LiveRulesTests {
    @Test func reloadSwapsRulesCountsAndCallsHandlers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weir-engine-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let rule = "name: a\nsql: SELECT * FROM \"t/#\"\nactions: [ { log: {} } ]\n"
        try rule.write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        let factory = TestMetrics()
        let metrics = EngineMetrics(factory: factory)
        let initial = try RuleLoader.load(directory: dir.path, upstreams: [])
        let rules = LiveRules(initial: initial, directory: dir.path, upstreams: [], logger: Logger(label: "test"), metrics: metrics)
        #expect(try factory.expectGauge("weir_rules_loaded").lastValue == 1)
        let seen = Mutex<[Int]>([])
        rules.onChange { fresh in seen.withLock { $0.append(fresh.rules.count) } }

        try rule.replacingOccurrences(of: "name: a", with: "name: b").write(
            to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        #expect(rules.reload(reason: "test"))
        #expect(rules.current.rules.count == 2)
        #expect(seen.withLock { $0 } == [2])
        #expect(try factory.expectCounter("weir_rule_reloads_total", [("result", "ok")]).totalValue == 1)

        try "name: broken\nsql: SELECT\n".write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        #expect(rules.reload(reason: "test") == false)
        #expect(rules.current.rules.count == 2, "the previous rules stay")
        #expect(seen.withLock { $0 } == [2])
        #expect(try factory.expectCounter("weir_rule_reloads_total", [("result", "failed")]).totalValue == 1)
    }
}

@Suite struct EngineMetricsTests {
    @Test func labelsAndDimensions() throws {
        let factory = TestMetrics()
        let metrics = EngineMetrics(factory: factory)
        metrics.matched(rule: "r")
        metrics.matched(rule: "r")
        metrics.failed(rule: "r")
        metrics.invalidEvent(reason: "json")
        metrics.eventsUnmatched.increment()
        metrics.eventsEmitted.increment()
        #expect(try factory.expectCounter("weir_rule_matched_total", [("rule", "r")]).totalValue == 2)
        #expect(try factory.expectCounter("weir_rule_errors_total", [("rule", "r")]).totalValue == 1)
        #expect(try factory.expectCounter("weir_events_invalid_total", [("reason", "json")]).totalValue == 1)
        #expect(try factory.expectCounter("weir_events_unmatched_total").totalValue == 1)
        #expect(try factory.expectCounter("weir_events_emitted_total").totalValue == 1)
    }
}
