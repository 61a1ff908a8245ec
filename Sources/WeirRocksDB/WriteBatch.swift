import CRocksDB

/// A set of writes applied atomically by `RocksDB.write(_:sync:)`.
///
/// Not `Sendable`: a batch is built and written by one thread (the outbox's committer).
public final class WriteBatch {
    let handle: OpaquePointer

    public init() {
        handle = rocksdb_writebatch_create()
    }

    deinit { rocksdb_writebatch_destroy(handle) }

    public var count: Int { Int(rocksdb_writebatch_count(handle)) }

    public func put(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBufferPointer { k in
            value.withUnsafeBufferPointer { v in
                k.withMemoryRebound(to: CChar.self) { kc in
                    v.withMemoryRebound(to: CChar.self) { vc in
                        rocksdb_writebatch_put(handle, kc.baseAddress, kc.count, vc.baseAddress, vc.count)
                    }
                }
            }
        }
    }

    public func delete(_ key: [UInt8]) {
        key.withUnsafeBufferPointer { k in
            k.withMemoryRebound(to: CChar.self) { rocksdb_writebatch_delete(handle, $0.baseAddress, $0.count) }
        }
    }

    /// Deletes every key in `[from, to)` with one range tombstone.
    public func deleteRange(from: [UInt8], to: [UInt8]) {
        withCRange(from, to) { rocksdb_writebatch_delete_range(handle, $0, $1, $2, $3) }
    }

    public func clear() { rocksdb_writebatch_clear(handle) }
}

extension RocksDB {
    /// Applies `batch` atomically; with `sync` the WAL is fsynced before returning (one fsync for
    /// the whole batch: group commit).
    public func write(_ batch: WriteBatch, sync: Bool) throws {
        let options = sync ? syncWriteOptions : writeOptions
        try writing("rocksdb_write") { rocksdb_write($0, options, batch.handle, $1) }
    }

    /// The last key in `[lower, upper)`, found by seeking backwards from the bound.
    public func lastKey(from lower: [UInt8], upTo upper: [UInt8]) throws -> [UInt8]? {
        let lease = try lease()
        defer { lease.end() }
        let handle = lease.handle
        let iterator = rocksdb_create_iterator(handle, readOptions)!
        defer { rocksdb_iter_destroy(iterator) }
        upper.withUnsafeBufferPointer { u in
            u.withMemoryRebound(to: CChar.self) { rocksdb_iter_seek_for_prev(iterator, $0.baseAddress, $0.count) }
        }
        var found: [UInt8]?
        while rocksdb_iter_valid(iterator) != 0 {
            var length = 0
            let key = Array(UnsafeRawBufferPointer(start: rocksdb_iter_key(iterator, &length), count: length))
            // seek_for_prev lands on the bound itself when it exists as a key: step past it.
            if key.lexicographicallyPrecedes(upper) {
                if !key.lexicographicallyPrecedes(lower) { found = key }
                break
            }
            rocksdb_iter_prev(iterator)
        }
        try rocksdb("rocksdb_iter_get_error") { rocksdb_iter_get_error(iterator, $0) }
        return found
    }
}
