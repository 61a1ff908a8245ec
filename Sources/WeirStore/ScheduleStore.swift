import WeirRocksDB

/// When each scheduled rule last ran: `schedule/<rule>` holds milliseconds since the epoch,
/// big-endian. Calls block: run them off the cooperative pool.
public final class ScheduleStore: Sendable {
    let db: RocksDB

    public init(db: RocksDB) {
        self.db = db
    }

    static func key(_ rule: String) -> [UInt8] { Array("schedule/\(rule)".utf8) }

    /// The last recorded run of `rule`, if any.
    public func lastRun(of rule: String) throws -> Int64? {
        guard let value = try db.get(Self.key(rule)), value.count == 8 else { return nil }
        return value.reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    /// Records a run durably (synced), so a restart does not repeat it.
    public func recordRun(of rule: String, at millis: Int64) throws {
        let bytes = (0..<8).reversed().map { UInt8(truncatingIfNeeded: millis >> ($0 * 8)) }
        try db.put(Self.key(rule), bytes, sync: true)
    }

    /// Every rule with a recorded run and when, for `weir` inspection and cleanup.
    public func all() throws -> [(rule: String, lastRun: Int64)] {
        let prefix = Array("schedule/".utf8)
        var result: [(String, Int64)] = []
        try db.scan(from: prefix, upTo: prefix + [0xFF]) { key, value in
            if value.count == 8 {
                result.append((String(decoding: key.dropFirst(prefix.count), as: UTF8.self), value.reduce(Int64(0)) { $0 << 8 | Int64($1) }))
            }
            return true
        }
        return result
    }
}
