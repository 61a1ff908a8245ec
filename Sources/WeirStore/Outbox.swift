import Dispatch
import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRocksDB

/// A durable FIFO of records for one upstream, stored in RocksDB under big-endian sequence keys.
///
/// `append` returns only once the record is in the fsynced WAL. Every change goes through one
/// committer thread, which writes whatever is pending (appends, acknowledgements, drops and
/// expiries, and the totals they change) as one `WriteBatch` with one fsync; appends arriving
/// during that fsync form the next group. So durability costs one fsync per group, not per event,
/// the blocking write stays off the cooperative pool, and the totals in the meta key always match
/// the data. Head and tail live in memory and are recovered from the keys on open; delivered,
/// dropped and expired records go with one range tombstone each.
public final class Outbox: Sendable {
    struct State {
        var appends: [(record: [UInt8], ticket: AppendTicket)] = []
        var acknowledgements: [(through: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        /// First sequence still stored (everything below is deleted).
        var head: UInt64
        /// Sequence the next committed record gets.
        var tail: UInt64
        var counters: OutboxCounters
        var closed = false
    }

    public let name: String
    public let commitInterval: Duration
    public let limits: OutboxLimits
    let db: RocksDB
    let keys: OutboxKeys
    let state: Mutex<State>
    let wake = DispatchSemaphore(value: 0)
    private let committer: Mutex<JoinableOSThread?> = Mutex(nil)
    let logger: Logger
    /// Wall-clock milliseconds for append times and the TTL; injectable for tests.
    let clock: @Sendable () -> Int64
    let metrics: OutboxMetrics
    let deletedSinceCompaction = Atomic<UInt64>(0)
    let compacting = Atomic<Bool>(false)
    let compactor: Mutex<JoinableOSThread?> = Mutex(nil)

    /// Opens the outbox `name` in `db`, recovering its head, tail and totals, and starts the committer.
    ///
    /// Deletes that a crash loses (an acknowledgement is written without fsync) only mean a batch
    /// is sent again: delivery is at-least-once.
    public init(
        db: RocksDB, name: String, commitInterval: Duration = .zero, limits: OutboxLimits = OutboxLimits(),
        logger: Logger = Logger(label: "weir.outbox"), metricsFactory: (any MetricsFactory)? = nil,
        clock: @escaping @Sendable () -> Int64 = currentTimeMillis
    ) throws {
        self.clock = clock
        self.db = db
        self.name = name
        self.commitInterval = commitInterval
        self.limits = limits
        self.logger = logger
        metrics = OutboxMetrics(name: name, factory: metricsFactory ?? MetricsSystem.factory)
        let keys = OutboxKeys(name: name)
        self.keys = keys
        let recovered = try Self.recover(db: db, keys: keys)
        state = Mutex(State(head: recovered.head, tail: recovered.tail, counters: recovered.counters))
        let thread = JoinableOSThread(name: "weir-outbox") { [self] in commitLoop() }
        committer.withLock { $0 = thread }
    }

    /// Appends `record`; returns its sequence number once it is durable.
    /// - Throws: `OutboxFull` (cap reached with `reject_new`), `OutboxClosed`, or a RocksDB error.
    public func append(_ record: [UInt8]) async throws -> UInt64 {
        try await enqueue(record).sequence
    }

    /// Queues `record` for the next group commit and returns at once; the ticket completes when the
    /// record is durable. Records keep the order of the `enqueue` calls, so a caller can enqueue in
    /// order and wait for durability elsewhere (pipelining: the caller does not wait per fsync).
    public func enqueue(_ record: [UInt8]) -> AppendTicket {
        let ticket = AppendTicket()
        let (closed, first) = state.withLock { s -> (Bool, Bool) in
            if s.closed { return (true, false) }
            s.appends.append((record, ticket))
            return (false, s.appends.count == 1 && s.acknowledgements.isEmpty)
        }
        if closed {
            return AppendTicket(failed: OutboxClosed(name: name))
        } else if first {
            wake.signal()
        }
        return ticket
    }

    /// Deletes everything up to and including `sequence` (after the upstream acknowledged it) and
    /// counts it as sent. Records already dropped or expired are not counted twice.
    public func acknowledge(through sequence: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let closed = state.withLock { s -> Bool in
                if s.closed { return true }
                s.acknowledgements.append((sequence, continuation))
                return false
            }
            if closed {
                continuation.resume(throwing: OutboxClosed(name: name))
            } else {
                wake.signal()
            }
        }
    }

    /// Up to `maxRecords` records (and about `maxBytes` of records) from the head, in order,
    /// without removing them. A stored value this version cannot read comes back with
    /// `appendedAt == -1` and its raw bytes, for the caller to dead-letter.
    public func peek(maxRecords: Int, maxBytes: Int = .max) throws -> [OutboxEntry] {
        let head = state.withLock { $0.head }
        return try Self.read(db: db, keys: keys, from: head, maxRecords: maxRecords, maxBytes: maxBytes)
    }

    /// Records appended and not yet acknowledged, dropped or expired (including ones being committed).
    public var depth: UInt64 { state.withLock { $0.tail - $0.head + UInt64($0.appends.count) } }

    /// Depth, bytes, oldest age and the lifetime totals.
    public func stats() throws -> OutboxStats {
        let (head, tail, counters) = state.withLock { ($0.head, $0.tail, $0.counters) }
        return try Self.stats(db: db, keys: keys, head: head, tail: tail, counters: counters)
    }

    /// Commits what is pending, then stops the committer; later calls fail. Idempotent.
    public func close() {
        let wasOpen = state.withLock { s in
            defer { s.closed = true }
            return !s.closed
        }
        guard wasOpen else { return }
        wake.signal()
        // Joined, not just signalled: once close returns the committer holds no reference to the
        // outbox or its database, so the store can be closed and reopened at once.
        committer.withLock { $0 }?.join()
        compactor.withLock { $0 }?.join()
    }

    /// The committer thread keeps the outbox alive until `close()`; call it on shutdown.
    deinit { close() }
}

/// Per-outbox metrics: what the limits removed, by reason.
struct OutboxMetrics: Sendable {
    let droppedFull: Counter
    let expired: Counter
    let rejected: Counter

    init(name: String, factory: any MetricsFactory) {
        droppedFull = Counter(label: "weir_outbox_dropped_total", dimensions: [("upstream", name), ("reason", "full")], factory: factory)
        expired = Counter(label: "weir_outbox_dropped_total", dimensions: [("upstream", name), ("reason", "ttl")], factory: factory)
        rejected = Counter(label: "weir_outbox_rejected_total", dimensions: [("upstream", name)], factory: factory)
    }
}
