import WeirRocksDB

/// When each scheduled rule last ran: `schedule/<rule>` holds milliseconds since the epoch,
/// big-endian; `schedule-seen/<rule>` when a cron schedule that never ran was first seen (so a
/// slot missed while Weir was down still counts). Calls block: run them off the cooperative pool.
public final class ScheduleStore: Sendable {
    let db: RocksDB

    public init(db: RocksDB) {
        self.db = db
    }

    static func key(_ rule: String) -> [UInt8] { Array("schedule/\(rule)".utf8) }
    static func seenKey(_ rule: String) -> [UInt8] { Array("schedule-seen/\(rule)".utf8) }

    /// The last recorded run of `rule`, if any.
    public func lastRun(of rule: String) throws -> Int64? {
        try Self.lastRun(db: db, rule: rule)
    }

    /// The last recorded run of `rule` in `db` (also for a read-only view of a live store).
    public static func lastRun(db: RocksDB, rule: String) throws -> Int64? {
        try db.get(key(rule)).flatMap(decode)
    }

    /// When a schedule that never ran was first seen, if recorded.
    public func firstSeen(of rule: String) throws -> Int64? {
        try Self.firstSeen(db: db, rule: rule)
    }

    public static func firstSeen(db: RocksDB, rule: String) throws -> Int64? {
        try db.get(seenKey(rule)).flatMap(decode)
    }

    /// Records a run durably (synced), so a restart does not repeat it.
    public func recordRun(of rule: String, at millis: Int64) throws {
        try db.put(Self.key(rule), Self.encode(millis), sync: true)
    }

    /// Records when a schedule that never ran was first seen.
    public func recordFirstSeen(of rule: String, at millis: Int64) throws {
        try db.put(Self.seenKey(rule), Self.encode(millis), sync: true)
    }

    /// Every stored run and first-seen time in `db`: `(rule, kind, millis)`, with kind `last_run` or
    /// `first_seen` and nil millis for a value that does not decode (`weir store verify`).
    public static func forEachStored(db: RocksDB, _ body: (_ rule: String, _ kind: String, _ millis: Int64?) -> Void) throws {
        for (prefix, kind) in [(Array("schedule/".utf8), "last_run"), (Array("schedule-seen/".utf8), "first_seen")] {
            try db.scan(from: prefix, upTo: prefix + [0xFF]) { key, value in
                body(String(decoding: key.dropFirst(prefix.count), as: UTF8.self), kind, decode(value))
                return true
            }
        }
    }

    static func encode(_ millis: Int64) -> [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: millis >> ($0 * 8)) } }
    static func decode(_ bytes: [UInt8]) -> Int64? { bytes.count == 8 ? bytes.reduce(Int64(0)) { $0 << 8 | Int64($1) } : nil }
}
