import CRocksDB

// What a full or failing disk does to RocksDB 7.8 and why Weir handles it this way: docs/rocksdb-enospc.md.

extension RocksDBError {
    /// A short cause for health reports: "no space" (ENOSPC, or RocksDB's space limit) or "I/O error"
    /// (any other failure of the disk); nil when the error is not the disk's.
    public var reason: String? {
        if message.contains("No space left on device") || message.contains("Space limit") { return "no space" }
        if message.contains("IO error") { return "I/O error" }
        return nil
    }
}

extension RocksDB {
    /// False from the first write that failed on the disk (ENOSPC, EIO) until `resume()` succeeds; also
    /// false once closed or when opened read-only. Reads keep working while it is false.
    public var isWritable: Bool {
        guard !isReadOnly, let lease = try? lease() else { return false }
        defer { lease.end() }
        return failure.withLock { $0 == nil }
    }

    /// The error that made the database unwritable (its `reason` is "no space" or "I/O error"), nil
    /// while writable.
    public var writeFailure: RocksDBError? { failure.withLock { $0 } }

    /// Makes the database writable again after a write failed on the disk, once the cause is gone
    /// (space freed): a no-op while writable. Call it again later when it throws, e.g. every few
    /// seconds; the error names what still fails ("no space" while the disk is still too full).
    ///
    /// Closes the handle and reopens the files, which replays the WAL (every acknowledged write, so
    /// nothing is lost) into a new table file: the reopen needs about one memtable's worth of free
    /// space. RocksDB's own DB::Resume is not used: after a memtable switch that failed (a flush or
    /// compaction after the failed write) it aborts on an assertion, or refuses for good.
    /// Calls wait while the handle is replaced, so none sees it closed. When the reopen fails, the
    /// files are opened read-only so reads go on, and writes stay refused.
    public func resume() throws {
        guard !isReadOnly else { return }
        try exclusively { (handle: inout OpaquePointer?) throws(RocksDBError) in
            guard failure.withLock({ $0 != nil }) else { return }
            if let open = handle { rocksdb_close(open) }
            handle = nil
            do throws(RocksDBError) {
                handle = try Self.open(options, path, readOnly: false)
                failure.withLock { $0 = nil }
            } catch {
                handle = try? Self.open(options, path, readOnly: true)
                failure.withLock { $0 = error }
                throw error
            }
        }
    }

    /// A lease for a call that writes (or flushes memtables, as compaction does), refused at once
    /// while an earlier write's failure stands. After a failed WAL write RocksDB 7.8 only returns that
    /// error to further writes, but syncing that WAL (FlushWAL) or switching memtables (flush,
    /// compaction) aborts on an assertion or leaves the database unable to resume: refusing every
    /// write keeps Weir off those paths without sorting calls by what RocksDB does inside them.
    func writableLease(_ operation: StaticString) throws(RocksDBError) -> Lease {
        let lease = try lease()
        if let earlier = failure.withLock({ $0 }) {
            lease.end()
            throw RocksDBError(operation: "\(operation)", message: "writes suspended until resume(): \(earlier.message)")
        }
        return lease
    }

    /// The funnel for writes: `rocksdb(_:_:)` on a writable lease, recording a failure of the disk so
    /// that later writes are refused until `resume()`.
    func writing<R>(
        _ operation: StaticString, _ body: (OpaquePointer, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R
    ) throws(RocksDBError) -> R {
        let lease = try writableLease(operation)
        defer { lease.end() }
        do throws(RocksDBError) {
            return try rocksdb(operation) { body(lease.handle, $0) }
        } catch {
            if error.reason != nil { failure.withLock { if $0 == nil { $0 = error } } }
            throw error
        }
    }
}
