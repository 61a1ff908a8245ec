import WeirCore
import WeirRocksDB

/// Size cap, age cap and what to do when the cap is reached, for one outbox.
public struct OutboxLimits: Sendable, Equatable {
    public enum WhenFull: String, Sendable, CaseIterable {
        /// Delete the oldest queued records to make room: recent data wins.
        case dropOldest = "drop_oldest"
        /// Refuse the new records (the `forward` action fails): old data wins.
        case rejectNew = "reject_new"
    }

    /// Cap on the queued records' stored bytes (header + row, before RocksDB's compression); nil: none.
    public var maxBytes: UInt64?
    /// Records older than this (since they were appended) are deleted undelivered; nil: never.
    public var ttl: Duration?
    public var whenFull: WhenFull

    public init(maxBytes: UInt64? = nil, ttl: Duration? = nil, whenFull: WhenFull = .dropOldest) {
        self.maxBytes = maxBytes
        self.ttl = ttl
        self.whenFull = whenFull
    }
}

/// One queued record.
public struct OutboxEntry: Sendable, Equatable {
    public var sequence: UInt64
    /// Wall-clock milliseconds since the epoch when the record was committed.
    public var appendedAt: Int64
    public var record: [UInt8]
    /// Bytes of the stored value (header + record; the raw value for an unreadable one): what it
    /// counts towards `max_bytes`.
    public var storedBytes: Int
    /// The class it was appended in; sequences count per class.
    public var priority: OutboxPriority = .normal

    public init(sequence: UInt64, appendedAt: Int64, record: [UInt8], storedBytes: Int? = nil, priority: OutboxPriority = .normal) {
        self.priority = priority
        self.sequence = sequence
        self.appendedAt = appendedAt
        self.record = record
        self.storedBytes = storedBytes ?? (appendedAt < 0 ? record.count : record.count + OutboxValue.headerSize)
    }
}

/// What `weir outbox stats` shows for one upstream.
public struct OutboxStats: Sendable, Equatable {
    /// Records queued (appended, not yet acknowledged, dropped or expired).
    public var depth: UInt64
    /// Stored bytes of the queued records: what `max_bytes` caps.
    public var bytes: UInt64
    /// Approximate bytes the outbox's key range takes in SST files (compressed); excludes the WAL.
    public var diskBytes: UInt64
    /// Append time of the oldest queued record, if any.
    public var oldestAppendedAt: Int64?
    /// Sequence the next record will get.
    public var nextSequence: UInt64
    public var sent: UInt64
    public var dropped: UInt64
    public var expired: UInt64
    public var rejected: UInt64
    /// Per class, highest first; only classes that ever held a row.
    public var classes: [OutboxClassStats] = []
}

/// One priority class of an outbox.
public struct OutboxClassStats: Sendable, Equatable {
    public var priority: OutboxPriority
    public var depth: UInt64
    public var bytes: UInt64
    public var oldestAppendedAt: Int64?
    public var dropped: UInt64
}

/// Totals kept in the outbox's meta key, written in the same batch as the change they count, so
/// they survive restarts and stay consistent with the data after a crash.
struct OutboxCounters: Equatable {
    var bytes: UInt64 = 0
    var sent: UInt64 = 0
    var dropped: UInt64 = 0
    var expired: UInt64 = 0
    var rejected: UInt64 = 0
    /// The sequence the next record gets. Kept here because an emptied outbox has no keys left to
    /// recover it from, and CloudEvents ids (`<gateway>-<sequence>`) must never repeat.
    var nextSequence: UInt64 = 1

    var encoded: [UInt8] {
        [UInt8](bigEndian: bytes) + [UInt8](bigEndian: sent) + [UInt8](bigEndian: dropped) + [UInt8](bigEndian: expired)
            + [UInt8](bigEndian: rejected) + [UInt8](bigEndian: nextSequence)
    }

    init() {}

    init?(decoding bytes: [UInt8]) {
        guard bytes.count == 48 else { return nil }
        func field(_ i: Int) -> UInt64 { Array(bytes[(i * 8)..<(i * 8 + 8)]).bigEndianUInt64 ?? 0 }
        self.bytes = field(0)
        sent = field(1)
        dropped = field(2)
        expired = field(3)
        rejected = field(4)
        nextSequence = field(5)
    }
}

/// Stored value layout: a format byte, the append time (big-endian ms), then the record.
enum OutboxValue {
    static let version: UInt8 = 1
    static let headerSize = 9

    static func encode(_ record: [UInt8], appendedAt: Int64) -> [UInt8] {
        var value = [version]
        value.reserveCapacity(headerSize + record.count)
        value += [UInt8](bigEndian: UInt64(bitPattern: appendedAt))
        value += record
        return value
    }

    /// The append time and record, or nil for a value this version cannot read (corrupted or
    /// written by a newer Weir).
    static func decode(_ value: [UInt8]) -> (appendedAt: Int64, record: [UInt8])? {
        guard value.count >= headerSize, value[0] == version, let time = Array(value[1..<9]).bigEndianUInt64 else { return nil }
        return (Int64(bitPattern: time), Array(value[headerSize...]))
    }
}

/// Key layout of one outbox: `outbox/<name>/<sequence, 8 bytes big-endian>` and its totals under
/// `meta/outbox/<name>`.
struct OutboxKeys: Sendable {
    let prefix: [UInt8]
    let meta: [UInt8]

    /// The normal class keeps the layout outboxes had before classes existed, so stored rows stay
    /// where they were; the others are the outbox `<name>!high` and `<name>!low` (upstream names
    /// cannot hold a `!`).
    init(name: String, priority: OutboxPriority = .normal) {
        let stored = name + Self.suffix(priority)
        prefix = Array("outbox/\(stored)/".utf8)
        meta = Array("meta/outbox/\(stored)".utf8)
    }

    static func suffix(_ priority: OutboxPriority) -> String { priority == .normal ? "" : "!\(priority)" }

    /// The keys of each class, by `OutboxPriority.rawValue`.
    static func lanes(_ name: String) -> [OutboxKeys] { OutboxPriority.allCases.map { OutboxKeys(name: name, priority: $0) } }

    func key(_ sequence: UInt64) -> [UInt8] { prefix + [UInt8](bigEndian: sequence) }
    var end: [UInt8] { prefix + [0xFF] }
    func sequence(of key: [UInt8]) -> UInt64 { Array(key.dropFirst(prefix.count)).bigEndianUInt64 ?? 0 }
}

/// An append refused because the outbox is at `max_bytes` with `when_full: reject_new`.
public struct OutboxFull: Error, Sendable, CustomStringConvertible {
    public var name: String
    public var description: String { "outbox '\(name)' is full (max_bytes reached, when_full: reject_new)" }
}

/// An append after `close()`.
public struct OutboxClosed: UnsettledError, Sendable, CustomStringConvertible {
    public var name: String
    public init(name: String) { self.name = name }
    public var description: String { "outbox '\(name)' is closed" }
}
