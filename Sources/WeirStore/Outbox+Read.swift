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

    /// Up to `maxRecords` entries from `head`, stopping before `maxBytes` (at least one entry).
    static func read(db: RocksDB, keys: OutboxKeys, from head: UInt64, maxRecords: Int, maxBytes: Int) throws -> [OutboxEntry] {
        var result: [OutboxEntry] = []
        var bytes = 0
        try db.scan(from: keys.key(head), upTo: keys.end) { key, value in
            guard result.count < maxRecords, result.isEmpty || bytes + value.count <= maxBytes else { return false }
            let sequence = keys.sequence(of: key)
            if let (appendedAt, record) = OutboxValue.decode(value) {
                result.append(OutboxEntry(sequence: sequence, appendedAt: appendedAt, record: record))
            } else {
                result.append(OutboxEntry(sequence: sequence, appendedAt: -1, record: value))
            }
            bytes += value.count
            return true
        }
        return result
    }

    static func stats(db: RocksDB, keys: OutboxKeys, head: UInt64, tail: UInt64, counters: OutboxCounters) throws -> OutboxStats {
        let oldest = try read(db: db, keys: keys, from: head, maxRecords: 1, maxBytes: .max).first
        return OutboxStats(
            depth: tail - head, bytes: counters.bytes, diskBytes: try db.approximateSize(from: keys.prefix, to: keys.end),
            oldestAppendedAt: oldest.flatMap { $0.appendedAt >= 0 ? $0.appendedAt : nil }, nextSequence: tail,
            sent: counters.sent, dropped: counters.dropped, expired: counters.expired, rejected: counters.rejected)
    }

    /// The stats of outbox `name` in a store another process may own (opened read-only).
    public static func inspect(db: RocksDB, name: String) throws -> OutboxStats {
        let keys = OutboxKeys(name: name)
        let recovered = try recover(db: db, keys: keys)
        return try stats(db: db, keys: keys, head: recovered.head, tail: recovered.tail, counters: recovered.counters)
    }

    /// The first `maxRecords` queued entries of outbox `name` in a store opened read-only.
    public static func peek(db: RocksDB, name: String, maxRecords: Int) throws -> [OutboxEntry] {
        try read(db: db, keys: OutboxKeys(name: name), from: 0, maxRecords: maxRecords, maxBytes: .max)
    }
}
