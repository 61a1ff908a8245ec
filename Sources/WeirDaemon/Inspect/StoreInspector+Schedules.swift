import WeirCore
import WeirRocksDB
import WeirRules
import WeirStore

extension StoreInspector {
    /// `weir schedule list`: each scheduled rule with its last run and when the next is due, as
    /// the daemon computes them. Works without a store (nothing ran yet) and beside a running daemon.
    public static func scheduleTable(config: WeirConfig, rules: RuleSet, now: Int64 = currentTimeMillis()) throws -> String {
        let inspector = try? StoreInspector(config: config)
        var rows = [["RULE", "SCHEDULE", "LAST_RUN", "NEXT_RUN", "ENABLED"]]
        for rule in rules.schedules.sorted(by: { $0.name < $1.name }) {
            let last = try inspector.flatMap { try ScheduleStore.lastRun(db: $0.db, rule: rule.name) }
            let seen = try inspector.flatMap { try ScheduleStore.firstSeen(db: $0.db, rule: rule.name) }
            let next: String
            switch rule.schedule.due(lastRun: last, firstSeen: seen, now: now) {
            case nil: next = "never"
            case let due? where due <= now: next = "now (due \(rfc3339(millis: due)))"
            case let due?: next = rfc3339(millis: due)
            }
            rows.append([
                rule.name, rule.schedule.description, last.map { rfc3339(millis: $0) } ?? "never", next, rule.enabled ? "yes" : "no",
            ])
        }
        return table(rows)
    }
}
