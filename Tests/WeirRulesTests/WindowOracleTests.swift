import Synchronization
import Testing
import WeirCore

@testable import WeirRules

/// Randomized streams through `WindowOperator`, against aggregates computed independently here.
@Suite struct WindowOracleTests {
    struct Reading {
        var device: String
        var value: Int64
        var time: Int64
    }

    static let sql = """
        SELECT device, count(*) AS n, sum(v) AS total, min(v) AS lo, max(v) AS hi, first(v) AS first_v, last(v) AS last_v,
               window_start() AS ws, window_end() AS we
        FROM "sensors/+/telemetry" GROUP BY device, WINDOW
        """

    func makeOperator(_ window: String, _ mode: TimeMode = .processing) throws -> WindowOperator {
        let query = try CompiledQuery(sql: Self.sql.replacingOccurrences(of: "WINDOW", with: window))
        return WindowOperator(query: try #require(query.grouping), timeMode: mode)
    }

    /// Readings in arrival order; with `disorder`, arrival times lag event times by up to that much.
    func stream(seed: UInt64, count: Int = 2_000, disorder: Int64 = 0) -> [Reading] {
        var random = SeededGenerator(state: seed)
        var time: Int64 = 1_700_000_000_000
        var readings: [Reading] = []
        for _ in 0..<count {
            time += Int64.random(in: 0...40, using: &random)
            readings.append(
                Reading(device: "d\(Int.random(in: 0..<5, using: &random))", value: Int64.random(in: -50...100, using: &random), time: time)
            )
        }
        guard disorder > 0 else { return readings }
        // Shuffle locally: each reading is delayed by a random amount up to `disorder`.
        let arrival = readings.map { $0.time + Int64.random(in: 0...disorder, using: &random) }
        return zip(readings, arrival).sorted { $0.1 < $1.1 }.map(\.0)
    }

    struct Expected: Hashable {
        var device: String
        var start: Int64
        var end: Int64
        var values: [Int64]
    }

    func rows(_ outputs: [WindowOutput]) -> Set<Expected> {
        Set(
            outputs.map { output in
                Expected(
                    device: output.row["device"]?.stringValue ?? "?", start: output.windowStart, end: output.windowEnd,
                    values: [
                        output.row["n"], output.row["total"], output.row["lo"], output.row["hi"], output.row["first_v"],
                        output.row["last_v"],
                    ].map { value in if case .int(let i)? = value { return i } else { return .min } })
            })
    }

    func expected(_ groups: [String: (device: String, start: Int64, end: Int64, values: [Int64])]) -> Set<Expected> {
        Set(
            groups.values.map { g in
                Expected(
                    device: g.device, start: g.start, end: g.end,
                    values: [
                        Int64(g.values.count), g.values.reduce(0, +), g.values.min()!, g.values.max()!, g.values.first!, g.values.last!,
                    ])
            })
    }

    /// Feeds readings at their own time (processing time) and closes everything at the end.
    func run(_ windows: inout WindowOperator, _ readings: [Reading], arrival: (Reading) -> Int64 = { $0.time }) throws -> (
        [WindowOutput], late: Int
    ) {
        var outputs: [WindowOutput] = []
        var late = 0
        for reading in readings {
            let now = arrival(reading)
            let (admission, emitted) = try windows.add(
                keys: [.string(reading.device)], values: Array(repeating: .int(reading.value), count: 6), time: reading.time, now: now)
            if admission == .late { late += 1 }
            outputs += emitted
            outputs += try windows.advance(now: now)
        }
        outputs += try windows.advance(now: .max / 2)
        return (outputs, late)
    }

    @Test(arguments: [1, 2, 3] as [UInt64]) func tumblingMatchesTheOracle(seed: UInt64) throws {
        var windows = try makeOperator("TUMBLING(500ms)")
        let readings = stream(seed: seed)
        let (outputs, _) = try run(&windows, readings)
        var oracle: [String: (device: String, start: Int64, end: Int64, values: [Int64])] = [:]
        for r in readings {
            let start = r.time - r.time % 500
            oracle["\(r.device)@\(start)", default: (r.device, start, start + 500, [])].values.append(r.value)
        }
        #expect(rows(outputs) == expected(oracle))
        #expect(outputs.count == oracle.count, "each group emitted once")
    }

    /// The same streams with most groups spilled out of memory between events: a saved-state map
    /// stands in for RocksDB. Results must not change.
    @Test(arguments: ["TUMBLING(500ms)", "HOPPING(1s, 250ms)", "SESSION(120ms)", "COUNT(7)", "SLIDING(300ms)"])
    func spillingGroupsOutOfMemoryChangesNothing(window: String) throws {
        let readings = stream(seed: 21, count: 800)
        var inMemory = try makeOperator(window)
        let (expectedOutputs, _) = try run(&inMemory, readings)

        let saved = Mutex<[String: JSONValue]>([:])
        var windows = try makeOperator(window)
        windows.loader = { key in saved.withLock { $0[key] } }
        var outputs: [WindowOutput] = []
        var random = SeededGenerator(state: 99)
        var evicted = 0
        for reading in readings {
            let (_, emitted) = try windows.add(
                keys: [.string(reading.device)], values: Array(repeating: .int(reading.value), count: 6), time: reading.time,
                now: reading.time)
            outputs += emitted
            outputs += try windows.advance(now: reading.time)
            // Checkpoint, then evict a random half of what is in memory (all of it is saved now).
            for change in windows.takeTouched() { saved.withLock { $0[change.storeKey] = change.state } }
            let victims = windows.groups.keys.filter { _ in Bool.random(using: &random) }
            evicted += victims.count
            windows.evict(Array(victims))
        }
        outputs += try windows.advance(now: .max / 2)
        #expect(evicted > 100)
        #expect(windows.lostOnLoad == 0)
        #expect(rows(outputs) == rows(expectedOutputs))
        #expect(outputs.count == expectedOutputs.count)
    }

    @Test(arguments: [4, 5] as [UInt64]) func hoppingMatchesTheOracle(seed: UInt64) throws {
        var windows = try makeOperator("HOPPING(1s, 250ms)")
        let readings = stream(seed: seed)
        let (outputs, _) = try run(&windows, readings)
        var oracle: [String: (device: String, start: Int64, end: Int64, values: [Int64])] = [:]
        for r in readings {
            var start = r.time - r.time % 250
            while start > r.time - 1000 {
                oracle["\(r.device)@\(start)", default: (r.device, start, start + 1000, [])].values.append(r.value)
                start -= 250
            }
        }
        #expect(rows(outputs) == expected(oracle))
    }

    @Test(arguments: [6, 7] as [UInt64]) func sessionsMatchTheOracle(seed: UInt64) throws {
        var windows = try makeOperator("SESSION(120ms)")
        let readings = stream(seed: seed)
        let (outputs, _) = try run(&windows, readings)
        var oracle: [String: (device: String, start: Int64, end: Int64, values: [Int64])] = [:]
        var open: [String: (start: Int64, last: Int64, values: [Int64])] = [:]
        for r in readings {
            if let session = open[r.device], r.time - session.last >= 120 {
                oracle["\(r.device)@\(session.start)"] = (r.device, session.start, session.last + 120, session.values)
                open[r.device] = nil
            }
            open[r.device, default: (r.time, r.time, [])].values.append(r.value)
            open[r.device]?.last = r.time
        }
        for (device, session) in open { oracle["\(device)@\(session.start)"] = (device, session.start, session.last + 120, session.values) }
        #expect(rows(outputs) == expected(oracle))
    }

    @Test(arguments: [8, 9] as [UInt64]) func countWindowsMatchTheOracle(seed: UInt64) throws {
        var windows = try makeOperator("COUNT(7)")
        let readings = stream(seed: seed)
        let (outputs, _) = try run(&windows, readings)
        var pending: [String: [Reading]] = [:]
        var oracle: [Expected] = []
        for r in readings {
            pending[r.device, default: []].append(r)
            if let group = pending[r.device], group.count == 7 {
                let values = group.map(\.value)
                oracle.append(
                    Expected(
                        device: r.device, start: group[0].time, end: r.time,
                        values: [7, values.reduce(0, +), values.min()!, values.max()!, values[0], values[6]]))
                pending[r.device] = nil
            }
        }
        #expect(rows(outputs) == Set(oracle))
        #expect(outputs.count == oracle.count, "incomplete count windows do not emit")
    }

    @Test(arguments: [10, 11] as [UInt64]) func slidingMatchesTheOracle(seed: UInt64) throws {
        var windows = try makeOperator("SLIDING(300ms)")
        let readings = stream(seed: seed, count: 500)
        let (outputs, _) = try run(&windows, readings)
        var oracle: [Expected] = []
        for (index, r) in readings.enumerated() {
            let values = readings[...index].filter { $0.device == r.device && $0.time > r.time - 300 }.map(\.value)
            oracle.append(
                Expected(
                    device: r.device, start: r.time - 300, end: r.time,
                    values: [Int64(values.count), values.reduce(0, +), values.min()!, values.max()!, values.first!, values.last!]))
        }
        #expect(outputs.count == readings.count, "one row per event")
        #expect(rows(outputs) == Set(oracle))
    }

    /// Event time with out-of-order arrival: the watermark trails the largest event time by the
    /// lateness; an event whose window closed before it arrived is late and counted, not added.
    @Test(arguments: [12, 13, 14] as [UInt64]) func eventTimeWithDisorderAndLateEvents(seed: UInt64) throws {
        let lateness: Int64 = 100
        var windows = try makeOperator("TUMBLING(500ms)", .event(field: "ts", lateness: lateness, idleTimeout: 3_600_000))
        let readings = stream(seed: seed, disorder: 400)
        // Arrival is instantaneous (now = event time of the newest arrival): no idle drift.
        var newest = Int64.min
        let arrivals = readings.map { r -> Int64 in
            newest = max(newest, r.time)
            return newest
        }
        var index = 0
        let (outputs, late) = try run(&windows, readings) { _ in
            defer { index += 1 }
            return arrivals[index]
        }
        var oracle: [String: (device: String, start: Int64, end: Int64, values: [Int64])] = [:]
        var maxSeen = Int64.min
        var expectedLate = 0
        for r in readings {
            let start = r.time - r.time % 500
            if maxSeen != .min && start + 500 <= maxSeen - lateness {
                expectedLate += 1
                continue
            }
            maxSeen = max(maxSeen, r.time)
            oracle["\(r.device)@\(start)", default: (r.device, start, start + 500, [])].values.append(r.value)
        }
        #expect(expectedLate > 0, "the stream has late events (seed \(seed))")
        #expect(late == expectedLate)
        // Values within a window are in arrival order here, so first/last follow arrival.
        #expect(rows(outputs) == expected(oracle))
    }

    @Test func idleTimeoutClosesWindowsOfQuietInput() throws {
        var windows = try makeOperator("TUMBLING(1s)", .event(field: "ts", lateness: 0, idleTimeout: 5_000))
        _ = try windows.add(keys: ["d1"], values: Array(repeating: .int(1), count: 6), time: 10_200, now: 50_000)
        #expect(try windows.advance(now: 54_000).isEmpty, "no newer event and not idle long enough")
        let closed = try windows.advance(now: 56_000)
        #expect(closed.count == 1 && closed.first?.windowStart == 10_000)
    }

    @Test func groupLimitDropsNewGroupsAndKeepsOld() throws {
        let query = try CompiledQuery(sql: #"SELECT device, count(*) AS n FROM "t" GROUP BY device, TUMBLING(1m)"#)
        var windows = WindowOperator(query: try #require(query.grouping), maxGroups: 2)
        #expect(try windows.add(keys: ["a"], values: [nil], time: 1, now: 1).0 == .accepted)
        #expect(try windows.add(keys: ["b"], values: [nil], time: 1, now: 1).0 == .accepted)
        #expect(try windows.add(keys: ["c"], values: [nil], time: 1, now: 1).0 == .overGroupLimit)
        #expect(try windows.add(keys: ["a"], values: [nil], time: 2, now: 2).0 == .accepted)
        let rows = try windows.advance(now: 60_000).map(\.row)
        #expect(rows == [["device": "a", "n": 2], ["device": "b", "n": 1]])
    }
}
