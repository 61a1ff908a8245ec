import Foundation
import Testing
import WeirCore

@testable import WeirRules

@Suite struct AggregateTests {
    func close(_ sql: String, _ rows: [JSONValue]) throws -> [JSONObject] {
        let query = try CompiledQuery(sql: sql)
        var windows = WindowOperator(query: try #require(query.grouping))
        for (i, payload) in rows.enumerated() {
            let context = EvaluationContext(payload: payload, topic: "sensors/s1/telemetry", timestamp: Int64(i))
            guard try query.matches(context) else { continue }
            let (keys, values) = try query.grouping!.input(context)
            _ = try windows.add(keys: keys, values: values, time: 1_000 + Int64(i), now: 1_000 + Int64(i))
        }
        return try windows.advance(now: 1_000_000_000).map(\.row)
    }

    @Test func statisticsOverOneWindow() throws {
        let values: [Double] = [2, 4, 4, 4, 5, 5, 7, 9]
        let rows = try close(
            """
            SELECT avg(v) AS mean, stddev(v) AS sd, stddev_samp(v) AS sds, var(v) AS variance, percentile(v, 50) AS median,
                   percentile(v, 100) AS top, count(v) AS n, count(*) AS all_rows, sum(v) AS total, window_start() AS ws, window_end() AS we
            FROM "sensors/+/telemetry" GROUP BY TUMBLING(1m)
            """, values.map { ["v": .double($0)] } + [["other": 1]])
        let row = try #require(rows.first)
        #expect(row["mean"] == .double(5))
        #expect(row["sd"] == .double(2))
        #expect(abs((row["sds"]?.doubleValue ?? 0) - (32.0 / 7).squareRoot()) < 1e-12)
        #expect(row["variance"] == .double(4))
        #expect(row["median"] == .double(4))
        #expect(row["top"] == .double(9))
        #expect(row["n"] == 8, "count(v) skips nulls")
        #expect(row["all_rows"] == 9, "count(*) counts rows")
        #expect(row["total"] == .double(40))
        #expect(row["ws"] == 0 && row["we"] == 60_000)
    }

    @Test func distinctCollectHavingAndKeys() throws {
        let rows = try close(
            """
            SELECT site, count_distinct(device) AS devices, collect(device, 3) AS some, max(temp) - min(temp) AS spread
            FROM "sensors/+/telemetry" WHERE temp IS NOT NULL GROUP BY site, TUMBLING(1m) HAVING count(*) > 2
            """,
            [
                ["site": "a", "device": "d1", "temp": 10], ["site": "a", "device": "d2", "temp": 14],
                ["site": "a", "device": "d1", "temp": 12],
                ["site": "a", "device": "d3", "temp": 11], ["site": "b", "device": "d9", "temp": 30], ["site": "a", "device": "d4"],
            ])
        #expect(rows == [["site": "a", "devices": 3, "some": ["d1", "d2", "d1"], "spread": 4]], "site b has too few rows for HAVING")
    }

    @Test func countDistinctIsExactToTheSketchSizeAndCloseBeyond() throws {
        let small = try close(
            #"SELECT count_distinct(x) AS n FROM "t/#" GROUP BY TUMBLING(1d)"#, (0..<1000).map { ["x": .int(Int64($0 % 700))] })
        #expect(small.first?["n"] == 700)
        let large = try close(
            #"SELECT count_distinct(x) AS n FROM "t/#" GROUP BY TUMBLING(1d)"#, (0..<50_000).map { ["x": .string("k\($0)")] })
        let estimate = Double(large.first?["n"]?.intValue ?? 0)
        #expect(abs(estimate - 50_000) / 50_000 < 0.1, "KMV estimate \(estimate) within 10 %")
    }

    @Test func typeErrorsInAnAggregateAreReported() throws {
        #expect(throws: EvaluationError.self) {
            try close(#"SELECT sum(v) AS s FROM "t/#" GROUP BY TUMBLING(1m)"#, [["v": 1], ["v": "two"]])
        }
    }
}
