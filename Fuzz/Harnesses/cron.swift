import WeirRules

/// Schedules of scheduled rules: `every <duration>`, five-field cron (names, ranges, steps, lists)
/// and `@daily`-style macros, through `Schedule(parsing:)`, then the next run times the scheduler
/// asks for. Properties: a schedule reparsed from its description is equal, and a next run is
/// strictly after the time asked about.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let schedule = try? Schedule(parsing: fuzzText(data, size)) else { return 0 }
    require((try? Schedule(parsing: schedule.description)) == schedule, "reparsed '\(schedule)' differs")
    let now: Int64 = 1_796_169_600_000  // 2026-12-02T00:00:00Z
    for after in [0, now, now + 59_999, 4_102_444_800_000] {
        if let next = schedule.next(after: after) { require(next > after, "next(after: \(after)) = \(next) for '\(schedule)'") }
    }
    _ = schedule.due(lastRun: now - 86_400_000, now: now)
    _ = schedule.due(lastRun: nil, firstSeen: now - 1, now: now)
    _ = schedule.firstRun(now: now)
    return 0
}
