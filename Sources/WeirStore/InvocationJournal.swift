import Dispatch
import Logging
import Synchronization
import WeirCore
import WeirRocksDB

/// Function invocations that must survive `kill -9`: journaled while queued, running or waiting
/// for a retry, removed once they finished (or were dead-lettered), and resumed at start.
///
/// Like the outbox, every change goes through one committer thread: the records, attempt updates
/// and removals pending when it wakes are written as one `WriteBatch`, with one fsync when the
/// batch holds a record (group commit: records arriving during that fsync form the next group).
/// Updates and removals need no fsync of their own: one lost in a crash only means an invocation
/// runs again, or with an older attempt number (at-least-once). Count and bytes live in memory and
/// are recovered by one scan at open.
public final class InvocationJournal: Sendable {
    typealias Callback = @Sendable ((any Error)?) -> Void

    enum Operation {
        case record(JournalEntry, Callback)
        case update(UInt64, attempt: Int)
        case remove(UInt64)
    }

    struct State {
        var pending: [Operation] = []
        /// The committer has been signalled for what is pending (it takes it all when it wakes).
        var signalled = false
        var nextID: UInt64
        /// Stored bytes per committed entry: `count`, `bytes`, and whether an update has anything to rewrite.
        var sizes: [UInt64: Int]
        var bytes: Int
        var closed = false
    }

    let db: RocksDB
    let logger: Logger
    let state: Mutex<State>
    let wake = DispatchSemaphore(value: 0)
    /// The committer's sign of life for the progress watchdog.
    public let progress = ProgressMark(name: "invocation journal")
    private let committer: Mutex<JoinableOSThread?> = Mutex(nil)
    /// Batches written with an fsync, and without: how tests see that records share fsyncs.
    let syncedWrites = Atomic<Int>(0)
    let unsyncedWrites = Atomic<Int>(0)
    /// Tests set this to make the next writes fail as a full or failing disk would.
    let injectedFailures = Atomic<Int>(0)

    /// Opens the journal in `db`: recovers the count, the bytes and the next id (from the last key
    /// and from `meta/invocations`, so ids never repeat), and starts the committer thread.
    public init(db: RocksDB, logger: Logger) throws {
        self.db = db
        self.logger = logger
        var sizes: [UInt64: Int] = [:]
        var bytes = 0
        var last: UInt64 = 0
        try db.scan(from: JournalFormat.prefix, upTo: JournalFormat.end) { key, value in
            let id = JournalFormat.id(of: key) ?? 0
            sizes[id] = value.count
            bytes += value.count
            last = max(last, id)
            return true
        }
        let stored = try db.get(JournalFormat.meta).flatMap { $0.bigEndianUInt64 } ?? 1
        state = Mutex(State(nextID: max(last + 1, stored, 1), sizes: sizes, bytes: bytes))
        guard let thread = JoinableOSThread.start(name: "weir-journal", { [self] in commitLoop() }) else {
            throw ThreadStartFailed(name: "weir-journal")
        }
        committer.withLock { $0 = thread }
    }

    /// Journals `entry` under a new id (`entry.id` is ignored) and returns the id at once. The put
    /// joins the next group commit; `whenDurable` is called on the committer thread with nil once
    /// the entry is in the fsynced WAL, or with the error if the write failed (the entry is then
    /// not stored: the caller redoes the work, e.g. the broker redelivers the message). After
    /// `close()` it is called at once, on the calling thread, with `JournalClosed`.
    ///
    /// `whenDurable` holds up the next group while it runs, so it should only hand the result on
    /// (resume a continuation); it may call `record`, `update` and `remove`, but not `close()`.
    @discardableResult
    public func record(_ entry: JournalEntry, whenDurable: @escaping @Sendable ((any Error)?) -> Void) -> UInt64 {
        let (id, signal) = state.withLock { s -> (UInt64?, Bool) in
            guard !s.closed else { return (nil, false) }
            let id = s.nextID
            s.nextID += 1
            var entry = entry
            entry.id = id
            s.pending.append(.record(entry, whenDurable))
            defer { s.signalled = true }
            return (id, !s.signalled)
        }
        guard let id else {
            whenDurable(JournalClosed())
            return 0
        }
        if signal { wake.signal() }
        return id
    }

    /// Rewrites the attempt of entry `id` (a retry is scheduled). Rides the next batch; written
    /// without an fsync when no record is pending. An id that is not stored is ignored.
    public func update(_ id: UInt64, attempt: Int) {
        enqueue(.update(id, attempt: attempt))
    }

    /// Deletes entry `id` (the invocation finished or was dead-lettered), without an fsync of its own.
    public func remove(_ id: UInt64) {
        enqueue(.remove(id))
    }

    private func enqueue(_ operation: Operation) {
        let signal = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.pending.append(operation)
            defer { s.signalled = true }
            return !s.signalled
        }
        if signal { wake.signal() }
    }

    /// The stored entries in id order, to resume at start. Entries that do not decode are skipped,
    /// logged, and counted in `unreadable`.
    public func entries() throws -> [JournalEntry] {
        let contents = try JournalFormat.read(db: db)
        unreadableCount.store(contents.unreadable.count, ordering: .relaxed)
        if !contents.unreadable.isEmpty {
            logger.warning(
                "journaled invocations unreadable; skipped",
                metadata: ["entries": "\(contents.unreadable.count)", "ids": "\(contents.unreadable.prefix(10).map(\.id))"])
        }
        return contents.entries
    }

    /// Entries the last `entries()` call skipped because they did not decode.
    public var unreadable: Int { unreadableCount.load(ordering: .relaxed) }
    private let unreadableCount = Atomic<Int>(0)

    /// The readable entries of a store opened read-only (unreadable ones are skipped).
    public static func entries(db: RocksDB) throws -> [JournalEntry] {
        try JournalFormat.read(db: db).entries
    }

    /// Every stored entry of `db`, with the ones that do not decode and why (`weir store verify`).
    public static func contents(db: RocksDB) throws -> JournalContents {
        try JournalFormat.read(db: db)
    }

    /// Entries committed to the store (records not yet durable are not counted).
    public var count: Int { state.withLock { $0.sizes.count } }

    /// Stored bytes of the committed entries (compressed values).
    public var bytes: Int { state.withLock { $0.bytes } }

    /// Commits what is pending, then stops the committer; later records fail with `JournalClosed`.
    /// Idempotent.
    public func close() {
        let wasOpen = state.withLock { s in
            defer { s.closed = true }
            return !s.closed
        }
        guard wasOpen else { return }
        wake.signal()
        // Joined, so that once close returns nothing holds the database: it can be closed and reopened.
        committer.withLock { $0 }?.join()
    }

    /// The committer thread keeps the journal alive until `close()`; call it on shutdown.
    deinit { close() }
}
