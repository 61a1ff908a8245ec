import Synchronization
import WeirCore
import WeirRocksDB
import WeirZstd

/// Something Weir gave up on: a batch an upstream refused for good, an unreadable stored record,
/// or (with functions) an invocation that failed its last attempt. Kept until replayed or purged.
public struct DeadLetter: Sendable, Equatable {
    public var id: UInt64
    /// What failed: `upstream` (a refused batch), `record` (an unreadable outbox record) or `function`.
    public var kind: String
    /// The upstream or function it was for.
    public var target: String
    /// Milliseconds since the epoch when it was dead-lettered.
    public var failedAt: Int64
    public var error: String
    public var attempts: Int
    /// The input, as JSON: for `upstream` an array of the rows' outbox records, so they can be replayed.
    public var payload: JSONValue

    public init(id: UInt64 = 0, kind: String, target: String, failedAt: Int64, error: String, attempts: Int, payload: JSONValue) {
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
            "id": .int(Int64(id)), "kind": .string(kind), "target": .string(target), "failed_at": .string(rfc3339(millis: failedAt)),
            "failed_at_ms": .int(failedAt), "error": .string(error), "attempts": .int(Int64(attempts)), "payload": payload,
        ]
    }

    init(decoding object: JSONValue) throws {
        guard case .int(let id) = object["id"], case .string(let kind) = object["kind"], case .string(let target) = object["target"],
            case .int(let failedAt) = object["failed_at_ms"], case .string(let error) = object["error"],
            case .int(let attempts) = object["attempts"], let payload = object["payload"]
        else { throw DeadLetterUnreadable() }
        self.init(id: UInt64(id), kind: kind, target: target, failedAt: failedAt, error: error, attempts: Int(attempts), payload: payload)
    }
}

/// The dead-letter store: zstd-compressed JSON letters under `dlq/<id, big-endian>` in the same
/// RocksDB as the outboxes, written with a WAL fsync (a letter replaces data that is then deleted).
/// Calls block; async callers run them off the cooperative pool.
public final class DeadLetters: Sendable {
    static let prefix = Array("dlq/".utf8)
    let db: RocksDB
    private let nextID: Mutex<UInt64>

    public init(db: RocksDB) throws {
        self.db = db
        let last = try db.lastKey(from: Self.prefix, upTo: Self.prefix + [0xFF]).flatMap { Array($0.dropFirst(Self.prefix.count)).bigEndianUInt64 }
        nextID = Mutex((last ?? 0) + 1)
    }

    static func key(_ id: UInt64) -> [UInt8] { prefix + [UInt8](bigEndian: id) }

    /// Stores `letter` under a new id and returns the id.
    @discardableResult
    public func add(_ letter: DeadLetter) throws -> UInt64 {
        try nextID.withLock { next in
            var letter = letter
            letter.id = next
            try db.put(Self.key(next), try Zstd.compress(JSONWriter.bytes(letter.json)), sync: true)
            next += 1
            return letter.id
        }
    }

    /// Letters in id order, starting at `after + 1`, at most `limit`.
    public func list(after: UInt64 = 0, limit: Int = .max) throws -> [DeadLetter] {
        try Self.list(db: db, after: after, limit: limit)
    }

    public func get(_ id: UInt64) throws -> DeadLetter? { try Self.get(db: db, id: id) }

    /// Deletes one letter (after a replay) or, with nil, every letter. Returns how many went.
    @discardableResult
    public func purge(_ id: UInt64? = nil) throws -> Int {
        let batch = WriteBatch()
        let count: Int
        if let id {
            guard try db.get(Self.key(id)) != nil else { return 0 }
            batch.delete(Self.key(id))
            count = 1
        } else {
            count = try self.count
            batch.deleteRange(from: Self.prefix, to: Self.prefix + [0xFF])
        }
        try db.write(batch, sync: true)
        return count
    }

    public var count: Int {
        get throws {
            var n = 0
            try db.scan(from: Self.prefix, upTo: Self.prefix + [0xFF]) { _, _ in
                n += 1
                return true
            }
            return n
        }
    }

    /// Lists letters of a store opened read-only (`weir dlq list` beside a running daemon).
    public static func list(db: RocksDB, after: UInt64 = 0, limit: Int = .max) throws -> [DeadLetter] {
        var letters: [DeadLetter] = []
        var failure: (any Error)?
        try db.scan(from: key(after + 1), upTo: prefix + [0xFF]) { _, value in
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

    static func decode(_ value: [UInt8]) throws -> DeadLetter {
        try DeadLetter(decoding: JSONParser.parse(Zstd.decompress(value, maxSize: 64 << 20)))
    }
}

/// A stored dead letter that does not decode.
public struct DeadLetterUnreadable: Error, Sendable, CustomStringConvertible {
    public var description: String { "dead letter is unreadable" }
}
