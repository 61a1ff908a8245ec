import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRocksDB
import WeirZstd

/// Something Weir gave up on: a batch an upstream refused for good, an unreadable stored record,
/// or (with functions) an invocation that failed its last attempt. Kept until replayed or purged, or
/// dropped oldest-first past the store's `DeadLetterLimits`.
public struct DeadLetter: Sendable, Equatable {
    public var id: UInt64
    /// What failed: `upstream` (a refused batch), `record` (an unreadable outbox record), `function`
    /// (a failed invocation) or `emit` (function output that could not become an event).
    public var kind: DeadLetterKind
    /// The upstream or function it was for.
    public var target: String
    /// Milliseconds since the epoch when it was dead-lettered.
    public var failedAt: Int64
    public var error: String
    public var attempts: Int
    /// The input, as JSON: for `upstream` an array of the rows' outbox records, so they can be replayed.
    public var payload: JSONValue

    public init(id: UInt64 = 0, kind: DeadLetterKind, target: String, failedAt: Int64, error: String, attempts: Int, payload: JSONValue) {
        self.id = id
        self.kind = kind
        self.target = target
        self.failedAt = failedAt
        self.error = error
        self.attempts = attempts
        self.payload = payload
    }

    /// The letter as one JSON object (what `weir dlq show` prints).
    public var json: JSONValue {
        [
            "id": .int(Int64(id)), "kind": .string(kind.rawValue), "target": .string(target),
            "failed_at": .string(rfc3339(millis: failedAt)),
            "failed_at_ms": .int(failedAt), "error": .string(error), "attempts": .int(Int64(attempts)), "payload": payload,
        ]
    }

    init(decoding object: JSONValue) throws {
        guard case .int(let id) = object["id"], case .string(let kind) = object["kind"], case .string(let target) = object["target"],
            case .int(let failedAt) = object["failed_at_ms"], case .string(let error) = object["error"],
            case .int(let attempts) = object["attempts"], let payload = object["payload"]
        else { throw DeadLetterUnreadable() }
        self.init(
            id: UInt64(id), kind: DeadLetterKind(rawValue: kind), target: target, failedAt: failedAt, error: error, attempts: Int(attempts),
            payload: payload)
    }
}

/// Caps on the dead-letter store, so that a destination that stays broken cannot fill the disk:
/// past either one, the oldest letters are deleted to make room for the new one.
public struct DeadLetterLimits: Sendable, Equatable {
    /// Cap on the letters' stored bytes (compressed values); nil: none.
    public var maxBytes: UInt64?
    /// Cap on the number of letters; nil: none.
    public var maxCount: Int?

    /// The defaults are 256 MiB and 100,000 letters.
    public init(maxBytes: UInt64? = 256 << 20, maxCount: Int? = 100_000) {
        self.maxBytes = maxBytes
        self.maxCount = maxCount
    }
}

/// The dead-letter store: zstd-compressed JSON letters under `dlq/<id, big-endian>` in the same
/// RocksDB as the outboxes, written with a WAL fsync (a letter replaces data that is then deleted).
/// Letters are kept until replayed or purged, or until the `limits` make the oldest go first.
/// Count, bytes and the first id live in memory (one scan at open), so the caps cost no reads
/// until something must be dropped. Calls block; async callers run them off the cooperative pool.
public final class DeadLetters: Sendable {
    static let prefix = Array("dlq/".utf8)
    static let end = prefix + [0xFF]
    struct State {
        var nextID: UInt64
        /// No letter is stored below this id: where a scan for the oldest starts (past the tombstones).
        var head: UInt64
        var count: Int
        var bytes: UInt64
        var report = DropReport()
    }

    let db: RocksDB
    public let limits: DeadLetterLimits
    private let state: Mutex<State>
    private let logger: Logger
    private let dropped: Counter
    private let stored: Gauge
    private let storedBytes: Gauge

    /// Opens the dead letters of `db`, recovering their count, bytes and next id with one scan.
    public init(
        db: RocksDB, limits: DeadLetterLimits = DeadLetterLimits(), metricsFactory: (any MetricsFactory)? = nil,
        logger: Logger = Logger(label: "weir.dlq")
    ) throws {
        self.db = db
        self.limits = limits
        self.logger = logger
        let factory = metricsFactory ?? MetricsSystem.factory
        dropped = Counter(label: "weir_dead_letters_dropped_total", factory: factory)
        stored = Gauge(label: "weir_dead_letters_stored", factory: factory)
        storedBytes = Gauge(label: "weir_dead_letters_stored_bytes", factory: factory)
        var first: UInt64?
        var last: UInt64 = 0
        var count = 0
        var bytes: UInt64 = 0
        try db.scan(from: Self.prefix, upTo: Self.end) { key, value in
            let id = Self.id(of: key)
            if first == nil { first = id }
            last = max(last, id)
            count += 1
            bytes += UInt64(value.count)
            return true
        }
        state = Mutex(State(nextID: last + 1, head: first ?? last + 1, count: count, bytes: bytes))
        stored.record(count)
        storedBytes.record(bytes)
    }

    static func key(_ id: UInt64) -> [UInt8] { prefix + [UInt8](bigEndian: id) }
    static func id(of key: [UInt8]) -> UInt64 { Array(key.dropFirst(prefix.count)).bigEndianUInt64 ?? 0 }

    /// Stores `letter` under a new id and returns the id. When the letter would take the store past
    /// a limit, the oldest letters are deleted in the same atomic write (counted in
    /// `weir_dead_letters_dropped_total`). A letter larger than `maxBytes` on its own is still kept.
    @discardableResult
    public func add(_ letter: DeadLetter) throws -> UInt64 {
        try state.withLock { s in
            var letter = letter
            letter.id = s.nextID
            let value = try Zstd.compress(JSONWriter.bytes(letter.json))
            let batch = WriteBatch()
            let oldest = try oldestToDrop(s, adding: UInt64(value.count))
            if oldest.count > 0 { batch.deleteRange(from: Self.key(s.head), to: Self.key(oldest.through + 1)) }
            batch.put(Self.key(letter.id), value)
            try db.write(batch, sync: true)
            if oldest.count > 0 { s.head = oldest.through + 1 }
            s.nextID += 1
            s.count += 1 - oldest.count
            s.bytes = s.bytes - min(oldest.bytes, s.bytes) + UInt64(value.count)
            publish(s)
            if oldest.count > 0 {
                dropped.increment(by: oldest.count)
                s.report.add(oldest.count, logger: logger, limits: limits, state: (s.count, s.bytes))
            }
            return letter.id
        }
    }

    /// The oldest letters that must go for one of `bytes` to fit: how many, the last one's id, their bytes.
    private func oldestToDrop(_ s: State, adding bytes: UInt64) throws -> (count: Int, through: UInt64, bytes: UInt64) {
        let excessCount = limits.maxCount.map { s.count + 1 - $0 } ?? 0
        let excessBytes = limits.maxBytes.map { s.bytes + bytes > $0 ? s.bytes + bytes - $0 : 0 } ?? 0
        guard excessCount > 0 || excessBytes > 0 else { return (0, 0, 0) }
        var result = (count: 0, through: UInt64(0), bytes: UInt64(0))
        try db.scan(from: Self.key(s.head), upTo: Self.end) { key, value in
            guard result.count < excessCount || result.bytes < excessBytes else { return false }
            result.count += 1
            result.through = Self.id(of: key)
            result.bytes += UInt64(value.count)
            return true
        }
        return result
    }

    private func publish(_ s: State) {
        stored.record(s.count)
        storedBytes.record(s.bytes)
    }

    /// Letters in id order, starting at `after + 1`, at most `limit`.
    public func list(after: UInt64 = 0, limit: Int = .max) throws -> [DeadLetter] {
        try Self.list(db: db, after: after, limit: limit)
    }

    public func get(_ id: UInt64) throws -> DeadLetter? { try Self.get(db: db, id: id) }

    /// Deletes one letter (after a replay) or, with nil, every letter. Returns how many went.
    @discardableResult
    public func purge(_ id: UInt64? = nil) throws -> Int {
        try state.withLock { s in
            let batch = WriteBatch()
            if let id {
                guard let value = try db.get(Self.key(id)) else { return 0 }
                batch.delete(Self.key(id))
                try db.write(batch, sync: true)
                s.count -= 1
                s.bytes -= min(UInt64(value.count), s.bytes)
                publish(s)
                return 1
            }
            let count = s.count
            batch.deleteRange(from: Self.prefix, to: Self.end)
            try db.write(batch, sync: true)
            (s.head, s.count, s.bytes) = (s.nextID, 0, 0)
            publish(s)
            return count
        }
    }

    /// Letters stored (kept in memory).
    public var count: Int { state.withLock { $0.count } }

    /// The highest id given so far (0 before any): every letter stored now has an id up to it.
    public var lastID: UInt64 { state.withLock { $0.nextID } - 1 }

    /// Their stored bytes (compressed values): what `maxBytes` caps.
    public var bytes: UInt64 { state.withLock { $0.bytes } }

    /// Lists letters of a store opened read-only (`weir dlq list` beside a running daemon).
    public static func list(db: RocksDB, after: UInt64 = 0, limit: Int = .max) throws -> [DeadLetter] {
        var letters: [DeadLetter] = []
        var failure: (any Error)?
        try db.scan(from: key(after + 1), upTo: end) { _, value in
            guard letters.count < limit else { return false }
            do {
                letters.append(try decode(value))
            } catch {
                failure = error
                return false
            }
            return true
        }
        if let failure { throw failure }
        return letters
    }

    public static func get(db: RocksDB, id: UInt64) throws -> DeadLetter? {
        try db.get(key(id)).map(decode)
    }

    /// Every stored letter of `db` in id order, decoded where possible (`weir store verify`).
    public static func forEachStored(db: RocksDB, _ body: (_ id: UInt64, Result<DeadLetter, any Error>) -> Void) throws {
        try db.scan(from: prefix, upTo: end) { key, value in
            body(id(of: key), Result { try decode(value) })
            return true
        }
    }

    static func decode(_ value: [UInt8]) throws -> DeadLetter {
        try DeadLetter(decoding: JSONParser.parse(Zstd.decompress(value, maxSize: 64 << 20), maxDepth: JSONParser.storedMaxDepth))
    }
}

/// A stored dead letter that does not decode.
public struct DeadLetterUnreadable: Error, Sendable, CustomStringConvertible {
    public var description: String { "dead letter is unreadable" }
}

/// Letters dropped at the limits are logged at most every 10 s, with the total since the last
/// line, so a store at its cap cannot flood the journal.
struct DropReport {
    var dropped = 0
    var throttle = LogThrottle(interval: .seconds(10))

    mutating func add(_ count: Int, logger: Logger, limits: DeadLetterLimits, state: (count: Int, bytes: UInt64)) {
        dropped += count
        guard throttle.allow() else { return }
        logger.warning(
            "dead letters full: dropped the oldest letters",
            metadata: [
                "dropped": "\(dropped)", "letters": "\(state.count)", "bytes": "\(state.bytes)",
                "max_count": "\(limits.maxCount.map(String.init) ?? "none")", "max_bytes": "\(limits.maxBytes.map(String.init) ?? "none")",
            ])
        dropped = 0
    }
}
