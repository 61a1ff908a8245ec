import CRocksDB
import CRocksDBShim
import Glibc
import Synchronization

/// A RocksDB call that failed, naming the call and RocksDB's message.
public struct RocksDBError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    public var description: String { "\(operation) failed: \(message)" }
}

/// The one funnel for RocksDB's `char** errptr` convention: a fresh error slot per call, the
/// message copied and released with `rocksdb_free`, and a thrown error naming the call.
@inline(__always)
func rocksdb<R>(_ operation: StaticString, _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) throws(RocksDBError) -> R {
    var error: UnsafeMutablePointer<CChar>?
    let result = body(&error)
    if let error {
        let message = String(cString: error)
        rocksdb_free(error)
        throw RocksDBError(operation: "\(operation)", message: message)
    }
    return result
}

/// An open RocksDB database, sized for a small gateway.
///
/// `@unchecked Sendable`: RocksDB documents `rocksdb_t` as safe for concurrent reads and writes from
/// many threads; the option and read/write-option handles are created once and only read. Calls
/// block (disk I/O, fsync): async callers run them on a dedicated thread, not the cooperative pool.
public final class RocksDB: @unchecked Sendable {
    public struct Options: Sendable {
        public var writeBufferSize = 4 << 20
        public var maxWriteBuffers: Int32 = 2
        public var blockCacheSize = 8 << 20
        /// Bounded: libmosquitto cannot poll descriptors at or above 1024.
        public var maxOpenFiles: Int32 = 256
        public var maxLogFileSize = 1 << 20
        public var keepLogFiles = 2
        /// Opens without taking the database lock, for inspecting a store a running daemon owns
        /// (`weir outbox stats`): sees the data as of the open, and refuses writes.
        public var readOnly = false

        public init() {}
    }

    /// Nil once closed, or while a failed `resume()` could not open the files even read-only.
    /// Written only under the `lifecycle` write lock, read under its read lock.
    private nonisolated(unsafe) var rawHandle: OpaquePointer?
    /// Read-locked by every call, write-locked by `close()` and `resume()`: a call never runs on a
    /// closed or replaced handle.
    private let lifecycle: UnsafeMutablePointer<pthread_rwlock_t>
    private nonisolated(unsafe) var isClosed = false
    /// The write that failed on the disk, set by writes under a read lock (hence its own mutex).
    let failure = Mutex<RocksDBError?>(nil)
    let isReadOnly: Bool
    let options: OpaquePointer
    private let cache: OpaquePointer
    private let tableOptions: OpaquePointer
    let readOptions: OpaquePointer
    let writeOptions: OpaquePointer
    let syncWriteOptions: OpaquePointer
    public let path: String

    /// Opens (creating if needed) the database at `path`. A corrupted database is reported, not repaired.
    public init(path: String, options config: Options = Options()) throws {
        let options = rocksdb_options_create()!
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_set_paranoid_checks(options, 1)
        rocksdb_options_set_write_buffer_size(options, config.writeBufferSize)
        rocksdb_options_set_max_write_buffer_number(options, config.maxWriteBuffers)
        rocksdb_options_set_max_open_files(options, config.maxOpenFiles)
        // RocksDB prunes rolled info logs (LOG.old.*) to this many; the logger below rolls them.
        rocksdb_options_set_keep_log_file_num(options, config.keepLogFiles)
        // A full disk must surface as a thrown error, never an abort: RocksDB's own LOG writer asserts
        // after a failed write (docs/rocksdb-enospc.md). A read-only open never rolls the LOG that a
        // running daemon writes.
        weir_rocksdb_options_set_plain_info_log(options, path + "/LOG", config.readOnly ? 0 : config.maxLogFileSize)
        // `resume()` is the one way back to writable, so RocksDB must not resume on its own.
        weir_rocksdb_options_disable_auto_recovery(options)
        // SST blocks are zstd-compressed: a block of queued rows with the same shape compresses
        // several times over, where compressing each small value alone would not.
        rocksdb_options_set_compression(options, Int32(rocksdb_zstd_compression))
        // A torn last record (power cut during an unacknowledged write) is expected and skipped;
        // damage anywhere else stops the open with an error instead of silently dropping what
        // follows it (`weir store repair` then keeps everything readable).
        rocksdb_options_set_wal_recovery_mode(options, 0)
        let cache = rocksdb_cache_create_lru(config.blockCacheSize)!
        let tableOptions = rocksdb_block_based_options_create()!
        rocksdb_block_based_options_set_block_cache(tableOptions, cache)
        rocksdb_options_set_block_based_table_factory(options, tableOptions)
        do {
            rawHandle = try Self.open(options, path, readOnly: config.readOnly)
        } catch {
            rocksdb_block_based_options_destroy(tableOptions)
            rocksdb_cache_destroy(cache)
            rocksdb_options_destroy(options)
            throw error
        }
        lifecycle = .allocate(capacity: 1)
        pthread_rwlock_init(lifecycle, nil)
        isReadOnly = config.readOnly
        self.options = options
        self.cache = cache
        self.tableOptions = tableOptions
        self.path = path
        readOptions = rocksdb_readoptions_create()
        writeOptions = rocksdb_writeoptions_create()
        syncWriteOptions = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(syncWriteOptions, 1)
    }

    static func open(_ options: OpaquePointer, _ path: String, readOnly: Bool) throws(RocksDBError) -> OpaquePointer {
        let handle = try rocksdb("rocksdb_open") { error in
            readOnly ? rocksdb_open_for_read_only(options, path, 0, error) : rocksdb_open(options, path, error)
        }
        guard let handle else { throw RocksDBError(operation: "rocksdb_open", message: "no handle returned") }
        return handle
    }

    /// A read lock on the open handle for the length of one call.
    struct Lease {
        let handle: OpaquePointer
        let lock: UnsafeMutablePointer<pthread_rwlock_t>
        func end() { pthread_rwlock_unlock(lock) }
    }

    func lease() throws(RocksDBError) -> Lease {
        pthread_rwlock_rdlock(lifecycle)
        guard !isClosed, let rawHandle else {
            pthread_rwlock_unlock(lifecycle)
            let state = isClosed ? "is closed" : "could not be reopened: \(failure.withLock { $0?.message ?? "" })"
            throw RocksDBError(operation: "RocksDB call", message: "database at \(path) \(state)")
        }
        return Lease(handle: rawHandle, lock: lifecycle)
    }

    /// Runs `body` with the handle write-locked: no call is in progress or starts meanwhile.
    func exclusively<R>(_ body: (inout OpaquePointer?) throws(RocksDBError) -> R) throws(RocksDBError) -> R {
        pthread_rwlock_wrlock(lifecycle)
        defer { pthread_rwlock_unlock(lifecycle) }
        guard !isClosed else { throw RocksDBError(operation: "RocksDB call", message: "database at \(path) is closed") }
        return try body(&rawHandle)
    }

    /// Closes the database (flushing nothing: the WAL already holds every write) once the calls in
    /// progress finish; later calls throw. Releases the directory's lock so it can be reopened at
    /// once, whoever still holds a reference. Idempotent.
    public func close() {
        pthread_rwlock_wrlock(lifecycle)
        defer { pthread_rwlock_unlock(lifecycle) }
        guard !isClosed else { return }
        isClosed = true
        if let rawHandle { rocksdb_close(rawHandle) }
        rawHandle = nil
    }

    deinit {
        close()
        pthread_rwlock_destroy(lifecycle)
        lifecycle.deallocate()
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(writeOptions)
        rocksdb_writeoptions_destroy(syncWriteOptions)
        rocksdb_options_destroy(options)
        rocksdb_block_based_options_destroy(tableOptions)
        rocksdb_cache_destroy(cache)
    }

    public func put(_ key: [UInt8], _ value: [UInt8], sync: Bool = false) throws {
        let options = sync ? syncWriteOptions : writeOptions
        try key.withUnsafeBufferPointer { k in
            try value.withUnsafeBufferPointer { v in
                try writing("rocksdb_put") { handle, error in
                    k.withMemoryRebound(to: CChar.self) { kc in
                        v.withMemoryRebound(to: CChar.self) { vc in
                            rocksdb_put(handle, options, kc.baseAddress, kc.count, vc.baseAddress, vc.count, error)
                        }
                    }
                }
            }
        }
    }

    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        let lease = try lease()
        defer { lease.end() }
        let handle = lease.handle
        var length = 0
        let value = try key.withUnsafeBufferPointer { k in
            try rocksdb("rocksdb_get") { error in
                k.withMemoryRebound(to: CChar.self) { rocksdb_get(handle, readOptions, $0.baseAddress, $0.count, &length, error) }
            }
        }
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return Array(UnsafeRawBufferPointer(start: value, count: length))
    }

    public func delete(_ key: [UInt8], sync: Bool = false) throws {
        let options = sync ? syncWriteOptions : writeOptions
        try key.withUnsafeBufferPointer { k in
            try writing("rocksdb_delete") { handle, error in
                k.withMemoryRebound(to: CChar.self) { rocksdb_delete(handle, options, $0.baseAddress, $0.count, error) }
            }
        }
    }

    /// Calls `body` for each key/value in `[lower, upper)` in key order, with the upper bound set on
    /// the read options so RocksDB stops at it instead of scanning tombstones beyond. Return `false`
    /// from `body` to stop early.
    public func scan(from lower: [UInt8], upTo upper: [UInt8], _ body: ([UInt8], [UInt8]) -> Bool) throws {
        let lease = try lease()
        defer { lease.end() }
        let handle = lease.handle
        let options = rocksdb_readoptions_create()!
        defer { rocksdb_readoptions_destroy(options) }
        try upper.withUnsafeBufferPointer { u in
            // The bound buffer must outlive the iterator: both live inside this closure.
            u.withMemoryRebound(to: CChar.self) { rocksdb_readoptions_set_iterate_upper_bound(options, $0.baseAddress, $0.count) }
            let iterator = rocksdb_create_iterator(handle, options)!
            defer { rocksdb_iter_destroy(iterator) }
            lower.withUnsafeBufferPointer { l in
                l.withMemoryRebound(to: CChar.self) { rocksdb_iter_seek(iterator, $0.baseAddress, $0.count) }
            }
            while rocksdb_iter_valid(iterator) != 0 {
                var keyLength = 0
                var valueLength = 0
                let key = Array(UnsafeRawBufferPointer(start: rocksdb_iter_key(iterator, &keyLength), count: keyLength))
                let value = Array(UnsafeRawBufferPointer(start: rocksdb_iter_value(iterator, &valueLength), count: valueLength))
                if !body(key, value) { break }
                rocksdb_iter_next(iterator)
            }
            try rocksdb("rocksdb_iter_get_error") { rocksdb_iter_get_error(iterator, $0) }
        }
    }
}

extension Array where Element == UInt8 {
    /// The big-endian bytes of `value`: such keys sort in numeric order.
    public init(bigEndian value: UInt64) {
        self = (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    /// Reads a big-endian `UInt64` from the first eight bytes.
    public var bigEndianUInt64: UInt64? {
        guard count >= 8 else { return nil }
        return self[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
    }
}
