import Dispatch
import Synchronization
import WeirCore
import WeirRocksDB

/// A durable FIFO of records for one upstream, stored in RocksDB under big-endian sequence keys.
///
/// `append` returns only once the record is in the fsynced WAL. Appends are group-committed: a
/// committer thread writes everything pending as one `WriteBatch` with one fsync, and the appends
/// that arrive during that fsync form the next group, so durability costs one fsync per group, not
/// per event. The committer is an OS thread, keeping the blocking write off the cooperative pool. Head and tail live in memory and
/// are recovered from the keys on open; delivered records go with one range tombstone.
public final class Outbox: Sendable {
    private struct Pending {
        var records: [(UInt64, [UInt8], CheckedContinuation<UInt64, any Error>)] = []
        var nextSequence: UInt64
        /// First sequence not yet acknowledged (everything below is deleted).
        var head: UInt64
        var closed = false
    }

    public let name: String
    public let commitInterval: Duration
    private let db: RocksDB
    private let prefix: [UInt8]
    private let state: Mutex<Pending>
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    /// Opens the outbox `name` in `db`, recovering its head and tail, and starts the committer.
    public init(db: RocksDB, name: String, commitInterval: Duration = .zero) throws {
        self.db = db
        self.name = name
        self.commitInterval = commitInterval
        let prefix = Array("outbox/\(name)/".utf8)
        self.prefix = prefix
        var first: UInt64?
        try db.scan(from: prefix, upTo: prefix + [0xFF]) { key, _ in
            first = Array(key.dropFirst(prefix.count)).bigEndianUInt64
            return false
        }
        let last = try db.lastKey(from: prefix, upTo: prefix + [0xFF]).flatMap { Array($0.dropFirst(prefix.count)).bigEndianUInt64 }
        let head = first ?? (last.map { $0 + 1 } ?? 1)
        state = Mutex(Pending(nextSequence: (last ?? 0) + 1, head: head))
        startOSThread(name: "weir-outbox") { [self] in commitLoop() }
    }

    func key(_ sequence: UInt64) -> [UInt8] { prefix + [UInt8](bigEndian: sequence) }

    /// Appends `record`; returns its sequence number once it is durable.
    public func append(_ record: [UInt8]) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { continuation in
            let (closed, first) = state.withLock { s -> (Bool, Bool) in
                if s.closed { return (true, false) }
                s.records.append((s.nextSequence, record, continuation))
                s.nextSequence += 1
                return (false, s.records.count == 1)
            }
            if closed {
                continuation.resume(throwing: OutboxClosed(name: name))
            } else if first {
                wake.signal()
            }
        }
    }

    /// Leader-style group commit: whatever is pending is written in one batch with one fsync, and
    /// appends arriving during that fsync form the next group. `commitInterval` is the minimum time
    /// between fsync starts (a cap on fsyncs per second, for flash wear); zero commits as soon as
    /// the previous fsync ends.
    private func commitLoop() {
        defer { stopped.signal() }
        let batch = WriteBatch()
        let spacing = UInt64(commitInterval.components.seconds) * 1_000_000_000
            + UInt64(commitInterval.components.attoseconds / 1_000_000_000)
        var lastStart: UInt64 = 0
        while true {
            wake.wait()
            while true {
                let now = monotonicNanos()
                if spacing > 0, now < lastStart + spacing {
                    // Let the interval's other appends join this fsync.
                    _ = DispatchSemaphore(value: 0).wait(timeout: .now() + .nanoseconds(Int(lastStart + spacing - now)))
                }
                let (records, closed) = state.withLock { s in
                    defer { s.records.removeAll(keepingCapacity: true) }
                    return (s.records, s.closed)
                }
                if records.isEmpty {
                    if closed { return }
                    break
                }
                lastStart = monotonicNanos()
                batch.clear()
                for (sequence, record, _) in records { batch.put(key(sequence), record) }
                do {
                    try db.write(batch, sync: true)
                    for (sequence, _, continuation) in records { continuation.resume(returning: sequence) }
                } catch {
                    for (_, _, continuation) in records { continuation.resume(throwing: error) }
                }
                if closed { return }
            }
        }
    }

    /// Up to `maxRecords` records (and about `maxBytes`) from the head, in order, without removing them.
    public func peek(maxRecords: Int, maxBytes: Int = .max) throws -> [(sequence: UInt64, record: [UInt8])] {
        let head = state.withLock { $0.head }
        var result: [(sequence: UInt64, record: [UInt8])] = []
        var bytes = 0
        try db.scan(from: key(head), upTo: prefix + [0xFF]) { key, value in
            guard result.count < maxRecords, result.isEmpty || bytes + value.count <= maxBytes else { return false }
            result.append((Array(key.dropFirst(prefix.count)).bigEndianUInt64 ?? 0, value))
            bytes += value.count
            return true
        }
        return result
    }

    /// Deletes everything up to and including `sequence` (after the upstream acknowledged it).
    public func acknowledge(through sequence: UInt64) throws {
        let head = state.withLock { $0.head }
        guard sequence >= head else { return }
        let batch = WriteBatch()
        batch.deleteRange(from: key(head), to: key(sequence + 1))
        try db.write(batch, sync: false)
        state.withLock { $0.head = max($0.head, sequence + 1) }
    }

    /// Records appended and not yet acknowledged (including ones still being committed).
    public var depth: UInt64 { state.withLock { $0.nextSequence - $0.head } }

    /// Commits what is pending, then stops the committer; later appends fail. Idempotent.
    public func close() {
        let wasOpen = state.withLock { s in
            defer { s.closed = true }
            return !s.closed
        }
        guard wasOpen else { return }
        wake.signal()
        stopped.wait()
    }

    /// The committer thread keeps the outbox alive until `close()`; call it on shutdown.
    deinit { close() }
}

/// An append after `close()`.
public struct OutboxClosed: Error, Sendable, CustomStringConvertible {
    public var name: String
    public var description: String { "outbox '\(name)' is closed" }
}
