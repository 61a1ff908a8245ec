import FoundationEssentials
import WeirCore
import WeirForwarder
import WeirRocksDB
import WeirStore

/// What `weir outbox` and `weir dlq` show. Opens the store read-only, so it works beside a running
/// daemon (it sees the store as of the moment it opened) as well as on a stopped one.
public struct StoreInspector {
    public let config: WeirConfig
    let db: RocksDB

    /// - Throws: `ConfigurationError` when there is no store under `state_dir` yet.
    public init(config: WeirConfig) throws {
        self.config = config
        let path = config.stateDir + "/store"
        guard FileManager.default.fileExists(atPath: path + "/CURRENT") else {
            throw ConfigurationError(description: "\(path): no store yet (Weir has not run with an upstream configured)")
        }
        var options = RocksDB.Options()
        options.readOnly = true
        db = try RocksDB(path: path, options: options)
    }

    /// Deletes dead letters (`id`, or all when nil) from a stopped daemon's store, opened
    /// read-write; fails when the daemon runs (it holds the lock). Returns how many went.
    public static func purgeDeadLetters(config: WeirConfig, id: UInt64?) throws -> Int {
        let path = config.stateDir + "/store"
        guard FileManager.default.fileExists(atPath: path + "/CURRENT") else {
            throw ConfigurationError(description: "\(path): no store yet")
        }
        let db: RocksDB
        do {
            db = try RocksDB(path: path)
        } catch {
            throw ConfigurationError(description: "\(path): cannot open the store: \(error) (is weir running with its admin endpoint off?)")
        }
        defer { db.close() }
        return try DeadLetters(db: db).purge(id)
    }

    /// Per upstream: `(name, stats)`, in configuration order.
    public func outboxStats() throws -> [(name: String, stats: OutboxStats)] {
        try config.upstreams.map { ($0.name, try Outbox.inspect(db: db, name: $0.name)) }
    }

    /// The stats as an aligned table (`now` in ms since the epoch, for the oldest record's age).
    public func outboxStatsTable(now: Int64 = currentTimeMillis()) throws -> String {
        var rows = [["UPSTREAM", "DEPTH", "BYTES", "DISK", "OLDEST", "SENT", "DROPPED", "EXPIRED", "REJECTED"]]
        for (name, s) in try outboxStats() {
            let age = s.oldestAppendedAt.map { formatAge(millis: now - $0) } ?? "-"
            rows.append([
                name, "\(s.depth)", formatBytes(s.bytes), formatBytes(s.diskBytes), age, "\(s.sent)", "\(s.dropped)", "\(s.expired)",
                "\(s.rejected)",
            ])
            // With more than the normal class in use, a line per class under the upstream's.
            guard s.classes.count > 1 else { continue }
            for c in s.classes {
                let age = c.oldestAppendedAt.map { formatAge(millis: now - $0) } ?? "-"
                rows.append(["  \(c.priority)", "\(c.depth)", formatBytes(c.bytes), "", age, "", "\(c.dropped)", "", ""])
            }
        }
        return table(rows)
    }

    /// The stats as JSON lines, one object per upstream, for scripts.
    public func outboxStatsJSON() throws -> [String] {
        try outboxStats().map { name, s in
            JSONWriter.string([
                "upstream": .string(name), "depth": .int(Int64(s.depth)), "bytes": .int(Int64(s.bytes)),
                "disk_bytes": .int(Int64(s.diskBytes)),
                "oldest_appended_at_ms": s.oldestAppendedAt.map { .int($0) } ?? .null, "next_sequence": .int(Int64(s.nextSequence)),
                "sent": .int(Int64(s.sent)), "dropped": .int(Int64(s.dropped)), "expired": .int(Int64(s.expired)),
                "rejected": .int(Int64(s.rejected)),
                "classes": .array(
                    s.classes.map { c in
                        [
                            "priority": .string("\(c.priority)"), "depth": .int(Int64(c.depth)), "bytes": .int(Int64(c.bytes)),
                            "oldest_appended_at_ms": c.oldestAppendedAt.map { .int($0) } ?? .null, "dropped": .int(Int64(c.dropped)),
                        ]
                    }),
            ])
        }
    }

    /// The next `limit` queued records of `upstream` as the CloudEvents they will be sent as, one
    /// JSON object per line. An unreadable record is shown as such.
    public func peek(upstream: String, limit: Int) throws -> [String] {
        guard config.upstreams.contains(where: { $0.name == upstream }) else {
            throw ConfigurationError(description: "no upstream '\(upstream)' in \(config.path)")
        }
        return try Outbox.peek(db: db, name: upstream, maxRecords: limit).map { entry in
            guard entry.appendedAt >= 0, let record = try? OutboxRecord(decoding: entry.record) else {
                return JSONWriter.string(["sequence": .int(Int64(entry.sequence)), "unreadable": true])
            }
            return JSONWriter.string(
                CloudEvents.event(record, sequence: entry.sequence, gatewayID: config.gatewayID, priority: entry.priority))
        }
    }

    public func deadLetters(limit: Int) throws -> [DeadLetter] { try DeadLetters.list(db: db, limit: limit) }

    public func deadLetter(_ id: UInt64) throws -> DeadLetter? { try DeadLetters.get(db: db, id: id) }

    /// Dead letters as a table: id, kind, target, time, attempts, items, error.
    public func deadLetterTable(limit: Int) throws -> String {
        var rows = [["ID", "KIND", "TARGET", "FAILED_AT", "ATTEMPTS", "ITEMS", "ERROR"]]
        for letter in try deadLetters(limit: limit) {
            let items: Int
            if case .array(let array) = letter.payload { items = array.count } else { items = 1 }
            rows.append([
                "\(letter.id)", letter.kind.rawValue, letter.target, rfc3339(millis: letter.failedAt), "\(letter.attempts)", "\(items)",
                String(letter.error.prefix(80)),
            ])
        }
        return table(rows)
    }
}

func table(_ rows: [[String]]) -> String {
    let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] + 2 - cell.count)
        }.joined()
    }.joined(separator: "\n")
}

func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes)B" : cFormat("%.1f", value) + units[unit]
}

func formatAge(millis: Int64) -> String {
    let seconds = max(0, millis / 1000)
    switch seconds {
    case ..<60: return "\(seconds)s"
    case ..<3600: return "\(seconds / 60)m\(seconds % 60)s"
    case ..<86_400: return "\(seconds / 3600)h\(seconds % 3600 / 60)m"
    default: return "\(seconds / 86_400)d\(seconds % 86_400 / 3600)h"
    }
}
