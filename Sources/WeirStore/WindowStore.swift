import WeirCore
import WeirRocksDB
import WeirZstd

/// One change to saved window state: a group's new state, or its deletion (nil).
public struct WindowChange: Sendable {
    public var rule: String
    public var storeKey: String
    public var state: JSONValue?

    public init(rule: String, storeKey: String, state: JSONValue?) {
        self.rule = rule
        self.storeKey = storeKey
        self.state = state
    }
}

/// Open windows' state in RocksDB: `window/<rule>/<store key>` holds a group as JSON, zstd-compressed
/// when it is large (`GroupState`); `meta/window/<rule>` holds the layout signature the groups were saved with, so a changed
/// rule does not resume state of another shape. Calls block: run them off the cooperative pool.
///
/// The stateful functions' partitions (`changed`, `lag`, …) are kept the same way under another
/// kind: `partition/<rule>/<partition key>` and `meta/partition/<rule>` (`partitions(db:)`).
public final class WindowStore: Sendable {
    let db: RocksDB
    /// The first key segment: `window`, or `partition`.
    let kind: String

    public init(db: RocksDB, kind: String = "window") {
        self.db = db
        self.kind = kind
    }

    /// The store of the stateful functions' partitions.
    public static func partitions(db: RocksDB) -> WindowStore { WindowStore(db: db, kind: "partition") }

    func prefix(_ rule: String) -> [UInt8] { Array("\(kind)/\(rule)/".utf8) }
    func meta(_ rule: String) -> [UInt8] { Array("meta/\(kind)/\(rule)".utf8) }

    /// The saved signature and groups of `rule`. Groups that do not decode are skipped and counted.
    public func load(rule: String) throws -> (signature: String?, groups: [(storeKey: String, state: JSONValue)], unreadable: Int) {
        let signature = try db.get(meta(rule)).map { String(decoding: $0, as: UTF8.self) }
        let prefix = prefix(rule)
        var groups: [(String, JSONValue)] = []
        var unreadable = 0
        try db.scan(from: prefix, upTo: prefix + [0xFF]) { key, value in
            if let state = try? GroupState.decode(value) {
                groups.append((String(decoding: key.dropFirst(prefix.count), as: UTF8.self), state))
            } else {
                unreadable += 1
            }
            return true
        }
        return (signature, groups, unreadable)
    }

    /// Forgets everything saved for `rule` and records the signature new state will have (nil: the
    /// rule is gone).
    public func reset(rule: String, signature: String?) throws {
        let batch = WriteBatch()
        let prefix = prefix(rule)
        batch.deleteRange(from: prefix, to: prefix + [0xFF])
        if let signature {
            batch.put(meta(rule), Array(signature.utf8))
        } else {
            batch.delete(meta(rule))
        }
        try db.write(batch, sync: true)
    }

    /// One saved group, or nil (missing or unreadable).
    public func load(rule: String, storeKey: String) -> JSONValue? {
        guard let value = try? db.get(prefix(rule) + Array(storeKey.utf8)) else { return nil }
        return try? GroupState.decode(value)
    }

    /// Names of the rules with saved state.
    public func ruleNames() throws -> [String] {
        let prefix = Array("meta/\(kind)/".utf8)
        var names: [String] = []
        try db.scan(from: prefix, upTo: prefix + [0xFF]) { key, _ in
            names.append(String(decoding: key.dropFirst(prefix.count), as: UTF8.self))
            return true
        }
        return names
    }

    /// Applies `changes` atomically with one WAL fsync.
    public func commit(_ changes: [WindowChange]) throws {
        let batch = WriteBatch()
        // One context for the whole batch, made only if some group is large enough to compress.
        var compressor: ZstdCompressor?
        for change in changes {
            let key = prefix(change.rule) + Array(change.storeKey.utf8)
            if let state = change.state {
                batch.put(key, try GroupState.encode(state, compressor: &compressor))
            } else {
                batch.delete(key)
            }
        }
        try db.write(batch, sync: true)
    }

    /// Approximate bytes of saved window state per rule prefix (for the benchmark).
    public func approximateBytes(rule: String) throws -> UInt64 {
        let prefix = prefix(rule)
        return try db.approximateSize(from: prefix, to: prefix + [0xFF])
    }

    /// Every saved group of every rule in `db`, decoded where possible (`weir store verify`). Rule
    /// names contain no '/', so a key splits into rule and store key at the first one.
    public static func forEachStored(
        db: RocksDB, _ body: (_ rule: String, _ storeKey: String, Result<JSONValue, any Error>) -> Void
    ) throws {
        let prefix = Array("window/".utf8)
        try db.scan(from: prefix, upTo: prefix + [0xFF]) { key, value in
            let rest = key.dropFirst(prefix.count)
            let rule = rest.prefix { $0 != UInt8(ascii: "/") }
            let storeKey = rest.dropFirst(rule.count + 1)
            let state = Result { () throws -> JSONValue in try GroupState.decode(value) }
            body(String(decoding: rule, as: UTF8.self), String(decoding: storeKey, as: UTF8.self), state)
            return true
        }
    }
}

/// How one group's state is stored: its JSON as is, or a zstd frame of it when the JSON is large.
///
/// Most groups are a few hundred bytes, where a zstd frame per group cost more instructions than the
/// event that changed it, and RocksDB compresses its files with zstd anyway; a large state (a
/// sliding window's events, a percentile's reservoir) still gets its own frame. The two are told
/// apart by the first bytes: a zstd frame starts with its magic number `28 B5 2F FD`, a group's
/// JSON with `{`, so state saved by earlier versions (always a frame) reads back unchanged.
enum GroupState {
    /// JSON of at least this many bytes is compressed.
    static let compressFrom = 1024
    static let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    static func encode(_ state: JSONValue, compressor: inout ZstdCompressor?) throws -> [UInt8] {
        let json = JSONWriter.bytes(state)
        guard json.count >= compressFrom else { return json }
        if compressor == nil { compressor = try ZstdCompressor(level: -1) }
        return try compressor!.compress(json)
    }

    static func decode(_ value: [UInt8]) throws -> JSONValue {
        let depth = JSONParser.storedMaxDepth
        if value.starts(with: zstdMagic) { return try JSONParser.parse(Zstd.decompress(value, maxSize: 64 << 20), maxDepth: depth) }
        return try JSONParser.parse(value, maxDepth: depth)
    }
}
