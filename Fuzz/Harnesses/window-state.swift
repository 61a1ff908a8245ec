import WeirCore

@testable import WeirRules
@testable import WeirStore

/// Saved window groups, as a restart reads them back: `GroupState.decode` (JSON, or a zstd frame
/// of it), `WindowOperator.Group(json:)` and `restore(storeKey:json:)` into operators of every
/// window kind and aggregate, then what the engine does next with a restored group: an event added
/// to it, the clock advanced so it closes and its row (aggregate results, HAVING) is computed, and
/// its state saved again. Property: a restored group saves to a state that restores equal.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let json = try? GroupState.decode(fuzzBytes(data, size)), let group = WindowOperator.Group(json: json) else { return 0 }
    require(WindowOperator.Group(json: group.json) == group, "a restored group saves to another group")
    for var op in operators {
        let storeKey: String
        switch op.spec {
        case .tumbling, .hopping: storeKey = "\(group.start)|[\"d1\"]"
        case .session, .count(_, nil): storeKey = "\(group.start)|[\"d1\"]"
        case .sliding, .count: storeKey = "*|[\"d1\"]"
        }
        guard op.restore(storeKey: storeKey, json: json) else { continue }
        op.resumeClock(at: now)
        if let (keys, values) = try? op.query.input(event) {
            // Event times as `eventTime` admits them (1970 to 9999); the group's own times are as stored.
            _ = try? op.add(keys: keys, values: values, time: now - 5_000, now: now)
            _ = try? op.add(keys: keys, values: values, time: now, now: now)
        }
        _ = try? op.advance(now: now + 86_400_000)
        _ = op.takeDiscarded()
        _ = op.takeTouched()
    }
    return 0
}

private let now: Int64 = 1_796_169_600_000  // 2026-12-02T00:00:00Z
private let event = EvaluationContext(
    payload: ["device": "d1", "v": 21.5, "n": 3, "s": "x", "ts": 1_796_169_600_000], topic: "s/site-1/t", timestamp: now)

/// One operator per window kind and time mode, with every aggregate (in one rule, and alone).
private let operators: [WindowOperator] = {
    let all =
        "count(*), count(v), sum(n), avg(v), min(v), max(s), first(v), last(v), stddev(v), stddev_samp(v), var(v), "
        + "percentile(v, 95), count_distinct(s), collect(v, 3), window_start(), window_end()"
    let windows = ["TUMBLING(10s)", "HOPPING(1m, 10s)", "SLIDING(30s)", "SESSION(5m, 8h)", "COUNT(3)", "COUNT(5, 2)"]
    let singles = ["count(*)", "sum(n)", "avg(v)", "max(v)", "first(v)", "percentile(v, 50)", "count_distinct(v)", "collect(v)"]
    var sqls = windows.map { "SELECT device, \(all) FROM \"s/+/t\" GROUP BY device, \($0) HAVING count(*) >= 0" }
    sqls += singles.flatMap { aggregate in windows.map { "SELECT device, \(aggregate) FROM \"s/+/t\" GROUP BY device, \($0)" } }
    let timeModes: [TimeMode] = [.processing, .event(field: "ts", lateness: 10_000, idleTimeout: 30_000)]
    return sqls.flatMap { sql in
        timeModes.map { WindowOperator(query: (try! CompiledQuery(sql: sql)).grouping!, timeMode: $0, maxGroups: 1000) }
    }
}()
