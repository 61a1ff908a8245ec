import Dispatch
import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRocksDB

/// A durable queue of records for one upstream, stored in RocksDB under big-endian sequence keys:
/// one FIFO per priority class (`OutboxPriority`), read highest class first.
///
/// `append` returns only once the record is in the fsynced WAL. Every change goes through one
/// committer thread, which writes whatever is pending (appends, acknowledgements, drops and
/// expiries, and the totals they change) as one `WriteBatch` with one fsync; appends arriving
/// during that fsync form the next group. So durability costs one fsync per group, not per event,
/// the blocking write stays off the cooperative pool, and the totals in the meta key always match
/// the data. Head and tail live in memory and are recovered from the keys on open; delivered,
/// dropped and expired records go with one range tombstone each.
public final class Outbox: Sendable {
    /// One priority class: its own sequences, head, tail and totals.
    struct Lane {
        /// First sequence still stored (everything below is deleted).
        var head: UInt64
        /// Sequence the next committed record gets.
        var tail: UInt64
        var counters: OutboxCounters

        var depth: UInt64 { tail - head }
    }

    struct State {
        var appends: [(record: [UInt8], priority: OutboxPriority, ticket: AppendTicket)] = []
        var acknowledgements: [Acknowledgement] = []
        /// Readers waiting in `waitForRecords`, woken by the committer: for a record above `after`
        /// in one class, or (nil) for any record in any class.
        var waiters: [(id: UInt64, after: UInt64, priority: OutboxPriority?, continuation: CheckedContinuation<Void, Never>)] = []
        /// Waits cancelled before they were queued.
        var cancelledWaits: Set<UInt64> = []
        var nextWaitID: UInt64 = 0
        /// By `OutboxPriority.rawValue`.
        var lanes: [Lane]
        var closed = false

        /// The highest class holding a committed record.
        var firstNonEmpty: OutboxPriority? { OutboxPriority.allCases.first { lanes[$0.rawValue].depth > 0 } }
    }

    public let name: String
    /// The committer's sign of life for the progress watchdog.
    public let progress: ProgressMark
    public let commitInterval: Duration
    public let limits: OutboxLimits
    let db: RocksDB
    /// By `OutboxPriority.rawValue`.
    let keys: [OutboxKeys]
    let state: Mutex<State>
    let wake = DispatchSemaphore(value: 0)
    private let committer: Mutex<JoinableOSThread?> = Mutex(nil)
    let logger: Logger
    /// Wall-clock milliseconds for append times and the TTL; injectable for tests.
    let clock: @Sendable () -> Int64
    let metrics: OutboxMetrics
    let deletedSinceCompaction = Atomic<UInt64>(0)
    /// Calls of `peek` (for tests: a batch is read once, an idle reader does not poll).
    let reads = Atomic<Int>(0)
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
        self.progress = ProgressMark(name: "outbox \(name)")
        self.commitInterval = commitInterval
        self.limits = limits
        self.logger = logger
        metrics = OutboxMetrics(name: name, factory: metricsFactory ?? MetricsSystem.factory)
        let (keys, lanes) = try Self.recoverLanes(db: db, name: name)
        self.keys = keys
        state = Mutex(State(lanes: lanes))
        metrics.record(lanes)
        guard let thread = JoinableOSThread.start(name: "weir-outbox", { [self] in commitLoop() }) else {
            throw ThreadStartFailed(name: "weir-outbox")
        }
        committer.withLock { $0 = thread }
    }

    /// Appends `record` in class `priority`; returns its sequence number (in that class) once it is durable.
    /// - Throws: `OutboxFull` (cap reached with `reject_new`), `OutboxClosed`, or a RocksDB error.
    public func append(_ record: [UInt8], priority: OutboxPriority = .normal) async throws -> UInt64 {
        try await enqueue(record, priority: priority).sequence
    }

    /// Queues `record` for the next group commit and returns at once; the ticket completes when the
    /// record is durable. Records keep the order of the `enqueue` calls, so a caller can enqueue in
    /// order and wait for durability elsewhere (pipelining: the caller does not wait per fsync).
    public func enqueue(_ record: [UInt8], priority: OutboxPriority = .normal) -> AppendTicket {
        let ticket = AppendTicket()
        let (closed, first) = state.withLock { s -> (Bool, Bool) in
            if s.closed { return (true, false) }
            s.appends.append((record, priority, ticket))
            return (false, s.appends.count == 1 && s.acknowledgements.isEmpty)
        }
        if closed {
            return AppendTicket(failed: OutboxClosed(name: name))
        } else if first {
            wake.signal()
        }
        return ticket
    }

    /// Deletes everything of class `priority` up to and including `sequence` (after the upstream
    /// acknowledged it) and counts it as sent. Records already dropped or expired are not counted
    /// twice. The committer reads the records to count their bytes; `acknowledge(_:)` spares that read.
    public func acknowledge(through sequence: UInt64, priority: OutboxPriority = .normal) async throws {
        try await acknowledge(Acknowledgement(through: sequence, priority: priority, sizes: nil))
    }

    /// Acknowledges `entries` (read from the head of one class, in order, as `peek` returns them)
    /// and everything before them in that class, taking their stored bytes from the entries
    /// instead of reading them again.
    public func acknowledge(_ entries: [OutboxEntry]) async throws {
        guard let last = entries.last else { return }
        precondition(entries.allSatisfy { $0.priority == last.priority }, "one acknowledgement covers one class")
        let contiguous = last.sequence - entries[0].sequence == UInt64(entries.count - 1)
        let sizes = contiguous ? (first: entries[0].sequence, bytes: entries.map { UInt64($0.storedBytes) }) : nil
        try await acknowledge(Acknowledgement(through: last.sequence, priority: last.priority, sizes: sizes))
    }

    private func acknowledge(_ acknowledgement: Acknowledgement) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let closed = state.withLock { s -> Bool in
                if s.closed { return true }
                var acknowledgement = acknowledgement
                acknowledgement.continuation = continuation
                s.acknowledgements.append(acknowledgement)
                return false
            }
            if closed {
                continuation.resume(throwing: OutboxClosed(name: name))
            } else {
                wake.signal()
            }
        }
    }

    /// Up to `maxRecords` records (and about `maxBytes` of records) from the head of the highest
    /// class holding any, in order, without removing them. A stored value this version cannot read
    /// comes back with `appendedAt == -1` and its raw bytes, for the caller to dead-letter.
    public func peek(maxRecords: Int, maxBytes: Int = .max) throws -> [OutboxEntry] {
        try peek(after: nil, maxRecords: maxRecords, maxBytes: maxBytes, atLeastOne: true).entries
    }

    /// Up to `maxRecords` records of class `priority` after `sequence` (from the head when nil, or
    /// when the head is past it), of at most `maxBytes` stored bytes in all; with `atLeastOne`, the
    /// first record comes even when larger. `full` says a record was left out because of
    /// `maxBytes`. With no class, reads the highest class holding a record (the forwarder's order).
    public func peek(
        after sequence: UInt64?, priority: OutboxPriority? = nil, maxRecords: Int, maxBytes: Int, atLeastOne: Bool
    ) throws -> OutboxRead {
        reads.add(1, ordering: .relaxed)
        let (lane, head) = state.withLock { s -> (OutboxPriority, UInt64) in
            let lane = priority ?? s.firstNonEmpty ?? .normal
            return (lane, s.lanes[lane.rawValue].head)
        }
        let from = sequence.map { max($0 + 1, head) } ?? head
        var full = false
        let entries = try Self.read(
            db: db, keys: keys[lane.rawValue], priority: lane, from: from, maxRecords: maxRecords, maxBytes: maxBytes,
            atLeastOne: atLeastOne, stoppedAtBytes: &full)
        return OutboxRead(entries: entries, full: full)
    }

    /// Records appended and not yet acknowledged, dropped or expired (including ones being committed).
    public var depth: UInt64 { state.withLock { $0.lanes.reduce(0) { $0 + $1.depth } + UInt64($0.appends.count) } }

    /// True once `close()` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Depth, bytes, oldest age and the lifetime totals, in all and per class.
    public func stats() throws -> OutboxStats {
        let lanes = state.withLock { $0.lanes }
        return try Self.stats(db: db, keys: keys, lanes: lanes)
    }

    /// Commits what is pending, then stops the committer; later calls fail. Idempotent.
    public func close() {
        let wasOpen = state.withLock { s in
            defer { s.closed = true }
            return !s.closed
        }
        guard wasOpen else { return }
        wake.signal()
        wakeWaiters()
        // Joined, not just signalled: once close returns the committer holds no reference to the
        // outbox or its database, so the store can be closed and reopened at once.
        committer.withLock { $0 }?.join()
        compactor.withLock { $0 }?.join()
    }

    /// The committer thread keeps the outbox alive until `close()`; call it on shutdown.
    deinit { close() }
}

/// Per-outbox metrics: the depth, and what the limits removed, by reason; and per class.
struct OutboxMetrics: Sendable {
    /// Committed rows not yet acknowledged, dropped or expired; recorded by the committer after
    /// every commit, so it moves while the upstream is down and the forwarder backs off.
    let depth: Gauge
    let droppedFull: Counter
    let expired: Counter
    let rejected: Counter
    /// By `OutboxPriority.rawValue`: `weir_outbox_class_depth` and the drops when full.
    let classDepth: [Gauge]
    let classDroppedFull: [Counter]

    init(name: String, factory: any MetricsFactory) {
        depth = Gauge(label: "weir_outbox_depth", dimensions: [("upstream", name)], factory: factory)
        droppedFull = Counter(label: "weir_outbox_dropped_total", dimensions: [("upstream", name), ("reason", "full")], factory: factory)
        expired = Counter(label: "weir_outbox_dropped_total", dimensions: [("upstream", name), ("reason", "ttl")], factory: factory)
        rejected = Counter(label: "weir_outbox_rejected_total", dimensions: [("upstream", name)], factory: factory)
        classDepth = OutboxPriority.allCases.map {
            Gauge(label: "weir_outbox_class_depth", dimensions: [("upstream", name), ("priority", "\($0)")], factory: factory)
        }
        classDroppedFull = OutboxPriority.allCases.map {
            Counter(
                label: "weir_outbox_class_dropped_total", dimensions: [("upstream", name), ("priority", "\($0)"), ("reason", "full")],
                factory: factory)
        }
    }

    func record(_ lanes: [Outbox.Lane]) {
        depth.record(Int(lanes.reduce(0) { $0 + $1.depth }))
        for (gauge, lane) in zip(classDepth, lanes) { gauge.record(Int(lane.depth)) }
    }
}
