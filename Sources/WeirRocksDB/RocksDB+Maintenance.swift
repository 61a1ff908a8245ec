import CRocksDB

extension RocksDB {
    /// Approximate bytes the keys in `[from, to)` take in SST files on disk (after compression);
    /// what is still only in the memtable and WAL is not counted.
    public func approximateSize(from: [UInt8], to: [UInt8]) throws -> UInt64 {
        let lease = try lease()
        defer { lease.end() }
        let handle = lease.handle
        var size: UInt64 = 0
        try withCRange(from, to) { start, startLength, limit, limitLength in
            var starts: [UnsafePointer<CChar>?] = [start]
            var startLengths = [startLength]
            var limits: [UnsafePointer<CChar>?] = [limit]
            var limitLengths = [limitLength]
            try rocksdb("rocksdb_approximate_sizes") {
                rocksdb_approximate_sizes(handle, 1, &starts, &startLengths, &limits, &limitLengths, &size, $0)
            }
        }
        return size
    }

    /// Compacts the keys in `[from, to)`: drops what range tombstones cover, so scans and disk
    /// space stop paying for delivered records. Blocks for as long as the compaction runs.
    /// Refused while a write's failure stands: compaction first flushes the memtable (see `writableLease`).
    public func compactRange(from: [UInt8], to: [UInt8]) throws {
        let lease = try writableLease("rocksdb_compact_range")
        defer { lease.end() }
        let handle = lease.handle
        withCRange(from, to) { rocksdb_compact_range(handle, $0, $1, $2, $3) }
    }

    /// A RocksDB property such as `rocksdb.total-sst-files-size`, or nil when unknown.
    public func property(_ name: String) throws -> String? {
        let lease = try lease()
        defer { lease.end() }
        let handle = lease.handle
        guard let value = rocksdb_property_value(handle, name) else { return nil }
        defer { rocksdb_free(value) }
        return String(cString: value)
    }
}

/// Lends two keys to a C call as `(start, startLength, limit, limitLength)`.
func withCRange<R>(
    _ from: [UInt8], _ to: [UInt8], _ body: (UnsafePointer<CChar>?, Int, UnsafePointer<CChar>?, Int) throws -> R
) rethrows -> R {
    try from.withUnsafeBufferPointer { f in
        try to.withUnsafeBufferPointer { t in
            try f.withMemoryRebound(to: CChar.self) { fc in
                try t.withMemoryRebound(to: CChar.self) { tc in try body(fc.baseAddress, fc.count, tc.baseAddress, tc.count) }
            }
        }
    }
}

extension RocksDB {
    /// Rebuilds a damaged database at `path` from whatever its files still hold (RocksDB's
    /// RepairDB): readable records are kept, damaged ones are dropped and the damaged files moved
    /// to `lost/`. The database must not be open anywhere.
    public static func repair(path: String) throws {
        let options = rocksdb_options_create()!
        defer { rocksdb_options_destroy(options) }
        rocksdb_options_set_compression(options, Int32(rocksdb_zstd_compression))
        try rocksdb("rocksdb_repair_db") { rocksdb_repair_db(options, path, $0) }
    }
}
