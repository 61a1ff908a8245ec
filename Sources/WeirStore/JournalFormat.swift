import WeirCore
import WeirRocksDB
import WeirZstd

/// One journaled function invocation (a `call:` action): what is needed to run it again after a
/// crash, and which attempt it is on.
public struct JournalEntry: Sendable, Equatable {
    /// Assigned by `InvocationJournal.record`; unique across restarts.
    public var id: UInt64
    public var rule: String
    public var function: String
    public var row: JSONObject
    /// The topic of the event that produced the row.
    public var topic: String
    /// When the triggering event reached Weir, ms since the epoch.
    public var receivedAt: Int64
    /// Function hops behind the triggering event, for the chain limit.
    public var hops: Int
    /// The attempt the invocation is on (from 1).
    public var attempt: Int

    public init(
        id: UInt64 = 0, rule: String, function: String, row: JSONObject, topic: String, receivedAt: Int64, hops: Int = 0,
        attempt: Int = 1
    ) {
        self.id = id
        self.rule = rule
        self.function = function
        self.row = row
        self.topic = topic
        self.receivedAt = receivedAt
        self.hops = hops
        self.attempt = attempt
    }
}

/// What the journal holds in a store: the readable entries in id order, and the keys that did not
/// decode (corrupted, or written by a newer Weir), with why.
public struct JournalContents: Sendable {
    public var entries: [JournalEntry]
    public var unreadable: [(id: UInt64, error: String)]
}

/// Stored layout: `inv/<id, 8 bytes big-endian>` holds the entry as zstd-compressed JSON with a
/// format version `v`, so a newer Weir can change the shape and an older one skips what it cannot
/// read instead of misreading it. `meta/invocations` holds the next id, so ids never repeat even
/// once the journal has been emptied.
enum JournalFormat {
    static let version: Int64 = 1
    static let prefix = Array("inv/".utf8)
    static let end = Array("inv0".utf8)  // '0' follows '/': the first key past every `inv/` key
    static let meta = Array("meta/invocations".utf8)

    static func key(_ id: UInt64) -> [UInt8] { prefix + [UInt8](bigEndian: id) }

    static func id(of key: [UInt8]) -> UInt64? {
        guard key.count == prefix.count + 8 else { return nil }
        return Array(key.dropFirst(prefix.count)).bigEndianUInt64
    }

    static func encode(_ entry: JournalEntry) throws -> [UInt8] {
        let json: JSONValue = [
            "v": .int(version), "id": .int(Int64(bitPattern: entry.id)), "rule": .string(entry.rule), "function": .string(entry.function),
            "row": .object(entry.row), "topic": .string(entry.topic), "received_at_ms": .int(entry.receivedAt),
            "hops": .int(Int64(entry.hops)), "attempt": .int(Int64(entry.attempt)),
        ]
        return try Zstd.compress(JSONWriter.bytes(json))
    }

    static func decode(_ value: [UInt8]) throws -> JournalEntry {
        let json = try JSONParser.parse(Zstd.decompress(value, maxSize: 64 << 20), maxDepth: JSONParser.storedMaxDepth)
        guard case .int(let version)? = json["v"] else { throw JournalEntryUnreadable(reason: "no format version") }
        guard version == Self.version else { throw JournalEntryUnreadable(reason: "format version \(version) is not \(Self.version)") }
        guard case .int(let id)? = json["id"], case .string(let rule)? = json["rule"], case .string(let function)? = json["function"],
            case .object(let row)? = json["row"], case .string(let topic)? = json["topic"],
            case .int(let receivedAt)? = json["received_at_ms"], case .int(let hops)? = json["hops"],
            case .int(let attempt)? = json["attempt"]
        else { throw JournalEntryUnreadable(reason: "a field is missing or of the wrong type") }
        return JournalEntry(
            id: UInt64(bitPattern: id), rule: rule, function: function, row: row, topic: topic, receivedAt: receivedAt, hops: Int(hops),
            attempt: Int(attempt))
    }

    /// Every stored entry, decoded where possible.
    static func read(db: RocksDB) throws -> JournalContents {
        var contents = JournalContents(entries: [], unreadable: [])
        try db.scan(from: prefix, upTo: end) { key, value in
            let id = Self.id(of: key) ?? 0
            do {
                var entry = try decode(value)
                entry.id = id  // the key is what remove/update address
                contents.entries.append(entry)
            } catch {
                contents.unreadable.append((id, "\(error)"))
            }
            return true
        }
        return contents
    }
}

/// A journal entry that does not decode.
public struct JournalEntryUnreadable: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { "journal entry is unreadable: \(reason)" }
}

/// A `record` after `close()`, or a callback of a group whose commit never ran.
public struct JournalClosed: Error, Sendable, CustomStringConvertible {
    public var description: String { "the invocation journal is closed" }
}
