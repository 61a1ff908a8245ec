import WeirCore
import WeirRocksDB

/// Reading an outbox's keys, shared by the live outbox and by `weir outbox` on a read-only store.
extension Outbox {
    struct Recovered {
        var head: UInt64
        var tail: UInt64
        var counters: OutboxCounters
    }

    /// Head and tail from the first and last keys; totals from the meta key (recomputed from the
    /// records when it is missing, as in a store written before the totals existed).
    static func recover(db: RocksDB, keys: OutboxKeys) throws -> Recovered {
        var first: UInt64?
        try db.scan(from: keys.prefix, upTo: keys.end) { key, _ in
            first = keys.sequence(of: key)
            return false
        }
        let last = try db.lastKey(from: keys.prefix, upTo: keys.end).map(keys.sequence(of:))
        var counters: OutboxCounters
        var tail = (last ?? 0) + 1
        if let meta = try db.get(keys.meta), let decoded = OutboxCounters(decoding: meta) {
            counters = decoded
            tail = max(tail, decoded.nextSequence)
        } else {
            counters = OutboxCounters()
            try db.scan(from: keys.prefix, upTo: keys.end) { _, value in
                counters.bytes += UInt64(value.count)
                return true
            }
        }
        let head = first ?? tail
        return Recovered(head: head, tail: tail, counters: counters)
    }

    /// Up to `maxRecords` entries from `head`, stopping before `maxBytes` (at least one entry
    /// when `atLeastOne`); `stoppedAtBytes` tells whether `maxBytes` left a record out.
    static func read(
        db: RocksDB, keys: OutboxKeys, priority: OutboxPriority, from head: UInt64, maxRecords: Int, maxBytes: Int,
        atLeastOne: Bool = true
    ) throws -> [OutboxEntry] {
        var stopped = false
        return try read(
            db: db, keys: keys, priority: priority, from: head, maxRecords: maxRecords, maxBytes: maxBytes, atLeastOne: atLeastOne,
            stoppedAtBytes: &stopped)
    }

    static func read(
        db: RocksDB, keys: OutboxKeys, priority: OutboxPriority, from head: UInt64, maxRecords: Int, maxBytes: Int, atLeastOne: Bool,
        stoppedAtBytes: inout Bool
    ) throws -> [OutboxEntry] {
        var result: [OutboxEntry] = []
        var bytes = 0
        var stopped = false
        guard maxRecords > 0 else { return [] }
        try db.scan(from: keys.key(head), upTo: keys.end) { key, value in
            guard result.count < maxRecords else { return false }
            guard (result.isEmpty && atLeastOne) || bytes + value.count <= maxBytes else {
                stopped = true
                return false
            }
            let sequence = keys.sequence(of: key)
            if let (appendedAt, record) = OutboxValue.decode(value) {
                result.append(
                    OutboxEntry(sequence: sequence, appendedAt: appendedAt, record: record, storedBytes: value.count, priority: priority))
            } else {
                result.append(OutboxEntry(sequence: sequence, appendedAt: -1, record: value, priority: priority))
            }
            bytes += value.count
            return true
        }
        stoppedAtBytes = stopped
        return result
    }

    /// Totals over the classes, and each class that holds rows or ever did.
    static func stats(db: RocksDB, keys: [OutboxKeys], lanes: [Lane]) throws -> OutboxStats {
        var total = OutboxStats(
            depth: 0, bytes: 0, diskBytes: 0, oldestAppendedAt: nil, nextSequence: lanes[OutboxPriority.normal.rawValue].tail, sent: 0,
            dropped: 0, expired: 0, rejected: 0)
        for priority in OutboxPriority.allCases {
            let (lane, laneKeys) = (lanes[priority.rawValue], keys[priority.rawValue])
            let oldest = try read(db: db, keys: laneKeys, priority: priority, from: lane.head, maxRecords: 1, maxBytes: .max).first
            let oldestAt = oldest.flatMap { $0.appendedAt >= 0 ? $0.appendedAt : nil }
            total.depth += lane.depth
            total.bytes += lane.counters.bytes
            total.diskBytes += try db.approximateSize(from: laneKeys.prefix, to: laneKeys.end)
            if let oldestAt { total.oldestAppendedAt = min(total.oldestAppendedAt ?? .max, oldestAt) }
            total.sent += lane.counters.sent
            total.dropped += lane.counters.dropped
            total.expired += lane.counters.expired
            total.rejected += lane.counters.rejected
            if priority == .normal || lane.counters.nextSequence > 1 || lane.depth > 0 {
                total.classes.append(
                    OutboxClassStats(
                        priority: priority, depth: lane.depth, bytes: lane.counters.bytes, oldestAppendedAt: oldestAt,
                        dropped: lane.counters.dropped))
            }
        }
        return total
    }

    static func recoverLanes(db: RocksDB, name: String) throws -> (keys: [OutboxKeys], lanes: [Lane]) {
        let keys = OutboxKeys.lanes(name)
        let lanes = try keys.map { keys throws in
            let recovered = try recover(db: db, keys: keys)
            return Lane(head: recovered.head, tail: recovered.tail, counters: recovered.counters)
        }
        return (keys, lanes)
    }

    /// The stats of outbox `name` in a store another process may own (opened read-only).
    public static func inspect(db: RocksDB, name: String) throws -> OutboxStats {
        let (keys, lanes) = try recoverLanes(db: db, name: name)
        return try stats(db: db, keys: keys, lanes: lanes)
    }

    /// The first `maxRecords` queued entries of outbox `name` in a store opened read-only, in the
    /// order they are sent: highest class first.
    public static func peek(db: RocksDB, name: String, maxRecords: Int) throws -> [OutboxEntry] {
        var entries: [OutboxEntry] = []
        for (priority, keys) in zip(OutboxPriority.allCases, OutboxKeys.lanes(name)) where entries.count < maxRecords {
            entries += try read(db: db, keys: keys, priority: priority, from: 0, maxRecords: maxRecords - entries.count, maxBytes: .max)
        }
        return entries
    }

    /// Names of the outboxes with rows or totals in `db`, whether configured or not (an upstream
    /// renamed or removed leaves its outbox behind).
    public static func names(db: RocksDB) throws -> [String] {
        var names = Set<String>()
        // Rows are `outbox/<name>/<sequence>`: past `<name>0` ('/' + 1) come only other outboxes.
        // Totals are `meta/outbox/<name>`, one key each.
        for (prefix, past) in [(Array("outbox/".utf8), UInt8(ascii: "0")), (Array("meta/outbox/".utf8), 0)] {
            var from = prefix
            // One seek per outbox, not one step per row.
            while true {
                var found: String?
                try db.scan(from: from, upTo: prefix + [0xFF]) { key, _ in
                    let rest = key.dropFirst(prefix.count)
                    found = String(decoding: rest.prefix { $0 != UInt8(ascii: "/") }, as: UTF8.self)
                    return false
                }
                guard let name = found else { break }
                // `<name>!high` and `<name>!low` hold the classes of outbox `<name>`.
                names.insert(String(name.prefix { $0 != "!" }))
                from = prefix + Array(name.utf8) + [past]
            }
        }
        return names.sorted()
    }

    /// Every stored row of outbox `name`, class by class (highest first) in sequence order, as
    /// `peek` returns them (an unreadable value comes with `appendedAt == -1` and its raw bytes),
    /// without holding them all in memory.
    public static func forEachStored(db: RocksDB, name: String, _ body: (OutboxEntry) -> Void) throws {
        for (priority, keys) in zip(OutboxPriority.allCases, OutboxKeys.lanes(name)) {
            try db.scan(from: keys.prefix, upTo: keys.end) { key, value in
                if key.count != keys.prefix.count + 8 {
                    body(OutboxEntry(sequence: 0, appendedAt: -1, record: value, priority: priority))
                } else if let (appendedAt, record) = OutboxValue.decode(value) {
                    body(OutboxEntry(sequence: keys.sequence(of: key), appendedAt: appendedAt, record: record, priority: priority))
                } else {
                    body(OutboxEntry(sequence: keys.sequence(of: key), appendedAt: -1, record: value, priority: priority))
                }
                return true
            }
        }
    }

    /// What is wrong with the totals of outbox `name` (`meta/outbox/<name>`), or nil when they read
    /// fine or are absent (a store written before they existed; they are recomputed).
    public static func metaProblem(db: RocksDB, name: String) throws -> String? {
        for (priority, keys) in zip(OutboxPriority.allCases, OutboxKeys.lanes(name)) {
            guard let meta = try db.get(keys.meta), OutboxCounters(decoding: meta) == nil else { continue }
            let which = priority == .normal ? "" : " of class \(priority)"
            return "totals\(which) unreadable: \(meta.count) bytes, expected 48"
        }
        return nil
    }
}
