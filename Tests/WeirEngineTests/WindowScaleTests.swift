import Foundation
import Logging
import MetricsTestKit
import Synchronization
import Testing
import WeirCore
import WeirRocksDB
import WeirRules
import WeirStore

@testable import WeirEngine

/// A windowed rule with 10,000 open groups, through the engine with a real store: every closed
/// window's row matches an oracle computed independently here, across a window boundary and a
/// restart from the checkpointed state.
@Suite struct WindowScaleTests {
    static let devices = 10_000
    static let size: Int64 = 600_000
    static let t0: Int64 = 1_800_000_000_000  // aligned to 600 s

    /// The oracle: per (window start, device), the temps added.
    struct Oracle {
        var temps: [Int64: [String: [Double]]] = [:]

        mutating func add(window: Int64, device: String, temp: Double) { temps[window, default: [:]][device, default: []].append(temp) }

        /// Checks the rows against the oracle's window: one row per device with its avg, max and count.
        func check(_ rows: [WindowOutput], window: Int64) {
            let expected = temps[window] ?? [:]
            #expect(rows.count == expected.count)
            var seen = Set<String>()
            for output in rows {
                guard case .string(let device)? = output.row["device"], let temps = expected[device] else {
                    Issue.record("unexpected row \(output.row)")
                    continue
                }
                seen.insert(device)
                #expect(output.windowStart == window && output.windowEnd == window + WindowScaleTests.size)
                let mean = temps.reduce(0, +) / Double(temps.count)
                #expect(abs((output.row["a"]?.doubleValue ?? .nan) - mean) < 1e-9, "avg of \(device)")
                #expect(output.row["m"]?.doubleValue == temps.max(), "max of \(device)")
                #expect(output.row["n"] == .int(Int64(temps.count)), "count of \(device)")
            }
            #expect(seen.count == expected.count)
        }
    }

    @Test func tenThousandGroupsMatchTheOracleAcrossABoundaryAndARestart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weir-window-scale-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (parsed, diagnostics) = RuleLoader.parse(
            """
            name: scale
            sql: >
              SELECT device, avg(temp) AS a, max(temp) AS m, count(*) AS n FROM "w/+/tele"
              GROUP BY device, TUMBLING(600s)
            actions: [ { log: {} } ]
            """, file: "scale.yaml")
        #expect(diagnostics.isEmpty)
        let rules = RuleSet(rules: parsed)
        let clock = Atomic<Int64>(Self.t0)
        let logger = Logger(label: "test")
        var oracle = Oracle()
        var seq = 0
        func feed(_ engine: WindowEngine, events perDevice: Int) {
            for round in 0..<perDevice {
                for d in 0..<Self.devices {
                    seq += 1
                    let device = "d\(d)"
                    let temp = Double((d * 31 + round * 17 + seq) % 400) / 4  // exact in binary
                    let event = Event(topic: "w/s/tele", payload: Array(#"{"device":"\#(device)","temp":\#(temp)}"#.utf8), receivedAt: 0)
                    for input in rules.process(event).windowInputs {
                        #expect(engine.add(input).isEmpty, "a tumbling window emits only when it closes")
                    }
                    let now = clock.load(ordering: .relaxed)
                    oracle.add(window: now - now % Self.size, device: device, temp: temp)
                }
            }
        }

        let db = try RocksDB(path: dir.path)
        let factory = TestMetrics()
        var engine = WindowEngine(
            rules: rules, store: WindowStore(db: db), clock: { clock.load(ordering: .relaxed) }, logger: logger, factory: factory)
        feed(engine, events: 3)
        #expect(engine.tick().isEmpty)
        // Past the boundary: new groups open while the first window's are still open.
        clock.store(Self.t0 + Self.size + 1_000, ordering: .relaxed)
        feed(engine, events: 1)
        #expect(try factory.expectCounter("weir_window_events_total", [("rule", "scale")]).totalValue == 4 * Self.devices)
        let first = engine.tick()
        oracle.check(first.map(\.1), window: Self.t0)
        for (rule, output) in first { engine.delivered(rule.name, output) }
        feed(engine, events: 2)

        // Restart from the checkpointed state: the second window resumes whole.
        engine.close()
        engine = WindowEngine(
            rules: rules, store: WindowStore(db: db), clock: { clock.load(ordering: .relaxed) }, logger: logger, factory: factory)
        feed(engine, events: 1)
        clock.store(Self.t0 + 2 * Self.size, ordering: .relaxed)
        oracle.check(engine.tick().map(\.1), window: Self.t0 + Self.size)
        engine.close()
        db.close()
    }
}
