import WeirCore
import WeirStore
import WeirZstd

/// The rows read for one batch. A partial batch keeps them while it waits for more, so each row
/// is read from the store once; the stored sizes go back with the acknowledgement.
struct PendingBatch {
    var entries: [OutboxEntry] = []
    var bytes = 0
    /// The class the batch is read from: the highest holding rows when it started; a batch holds
    /// one class, so higher classes go first after an outage.
    var priority: OutboxPriority?
    /// `max_events` or `max_bytes` reached: send without waiting.
    var full = false
}

/// A stored row ready to splice: its sequence, its format 2 bytes and where their pieces are.
typealias SplicedRow = (sequence: UInt64, row: [UInt8], pieces: StoredRow.Pieces)

/// Above this many bytes of JSON, zstd runs on the forwarder's own thread rather than on the
/// cooperative pool (a 256 KiB batch takes about a millisecond).
let compressOffPoolBytes = 16 * 1024

extension Forwarder {
    /// Reads the rows after `sequence` (from the head when nil) that still fit in `batch`.
    func read(after sequence: UInt64?, into batch: PendingBatch) async throws -> PendingBatch {
        let (outbox, maxEvents, maxBytes) = (outbox, configuration.maxEvents, configuration.maxBytes)
        let (count, bytes, priority) = (batch.entries.count, batch.bytes, batch.priority)
        let read = try await io.run {
            try outbox.peek(
                after: sequence, priority: priority, maxRecords: maxEvents - count, maxBytes: maxBytes - bytes, atLeastOne: count == 0)
        }
        var batch = batch
        batch.priority = batch.priority ?? read.entries.first?.priority
        batch.entries += read.entries
        batch.bytes += read.entries.reduce(0) { $0 + $1.storedBytes }
        batch.full = read.full || batch.entries.count >= maxEvents
        return batch
    }

    /// Waits until `max_delay` after now for rows to fill `batch`, reading each commit's rows as
    /// the committer announces them; returns at once when the batch is full.
    func fill(_ batch: inout PendingBatch) async throws {
        let deadline = ContinuousClock.now + configuration.maxDelay
        while !batch.full, let last = batch.entries.last?.sequence {
            let more = await waitForRecords(after: last, priority: batch.priority, until: deadline)
            try Task.checkCancellation()
            guard more, !outbox.isClosed else { return }
            let count = batch.entries.count
            batch = try await read(after: last, into: batch)
            if batch.entries.count == count && !batch.full { return }
        }
    }

    /// Idle: waits for the committer to announce a row (no polling). With `isStopping`, wakes every
    /// 100 ms to look at it, without reading the outbox.
    func idle(_ isStopping: (@Sendable () -> Bool)?) async throws {
        if let isStopping {
            while !(await waitForRecords(after: 0, until: .now + .milliseconds(100))) {
                try Task.checkCancellation()
                if isStopping() { return }
            }
        } else {
            await outbox.waitForRecords()
        }
        try Task.checkCancellation()
        // A closed outbox wakes every reader: fail (and back off) rather than spin.
        if outbox.isClosed { throw OutboxClosed(name: outbox.name) }
    }

    /// True when a row above `sequence` (of class `priority`; with none, any row) was committed before `deadline`.
    func waitForRecords(after sequence: UInt64, priority: OutboxPriority? = nil, until deadline: ContinuousClock.Instant) async -> Bool {
        let outbox = self.outbox
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await outbox.waitForRecords(after: sequence, priority: priority)
                return true
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// The batch's rows ready to splice, and the raw bytes of entries that do not decode
    /// (corruption, or a record from a newer version): those are dead-lettered rather than
    /// blocking the queue for ever. Format 2 rows are checked, not parsed; format 1 rows (stored
    /// before) are parsed once and converted.
    func decode(_ batch: [OutboxEntry]) -> ([SplicedRow], [(sequence: UInt64, json: JSONValue)]) {
        var rows: [SplicedRow] = []
        rows.reserveCapacity(batch.count)
        var unreadable: [(sequence: UInt64, json: JSONValue)] = []
        for entry in batch {
            if entry.appendedAt >= 0, let row = Self.spliceable(entry.record) {
                rows.append((entry.sequence, row.row, row.pieces))
            } else {
                logger.error(
                    "unreadable outbox record moved to dead letters", metadata: ["upstream": "\(name)", "sequence": "\(entry.sequence)"])
                let hex = entry.record.map { hexDigits[Int($0)] }.joined()
                unreadable.append((entry.sequence, ["sequence": .int(Int64(entry.sequence)), "bytes_hex": .string(hex)]))
            }
        }
        return (rows, unreadable)
    }

    /// A stored record as format 2 bytes and their pieces, or nil when it is not a readable row.
    static func spliceable(_ record: [UInt8]) -> (row: [UInt8], pieces: StoredRow.Pieces)? {
        if let pieces = StoredRow.pieces(record) { return (record, pieces) }
        guard record.first == UInt8(ascii: "{"), let old = try? OutboxRecord(decoding: record) else { return nil }
        let row = old.encoded()
        return StoredRow.pieces(row).map { (row, $0) }
    }

    /// A row as dead letters keep it: `{rule, topic, time, data}`.
    static func letterRow(_ row: SplicedRow) -> JSONValue {
        (try? OutboxRecord(decoding: row.row))?.json ?? ["sequence": .int(Int64(row.sequence)), "bytes_hex": .string("")]
    }

    /// The batch as sent: the spliced JSON array, one zstd frame when compression is on (large
    /// batches compressed on the forwarder's thread, off the cooperative pool).
    func encode(_ rows: [SplicedRow], priority: OutboxPriority) async throws -> [UInt8] {
        let json = writer.batch(rows, priority: priority)
        guard configuration.compression else { return json }
        if json.count < compressOffPoolBytes { return try Zstd.compress(json) }
        return try await io.run { try Zstd.compress(json) }
    }
}

private let hexDigits = (0...255).map { hexByte(UInt8($0)) }

extension Forwarder {
    /// The rows to send and their payload, within `maxPayloadBytes` when it is set: a batch that
    /// encodes larger keeps the rows that fit (estimated from the overflow, then halved until it
    /// fits). A single row that alone encodes larger comes back with a nil payload.
    func encodeWithinLimit(_ rows: [SplicedRow], priority: OutboxPriority) async throws -> (rows: [SplicedRow], payload: [UInt8]?) {
        var rows = rows
        var payload = try await encode(rows, priority: priority)
        guard let limit = configuration.maxPayloadBytes else { return (rows, payload) }
        while payload.count > limit {
            guard rows.count > 1 else { return (rows, nil) }
            let estimate = rows.count * limit / payload.count * 9 / 10
            let keep = estimate > 0 && estimate < rows.count ? estimate : rows.count / 2
            rows.removeLast(rows.count - max(1, keep))
            payload = try await encode(rows, priority: priority)
        }
        return (rows, payload)
    }

    /// Moves a row that alone encodes larger than `maxPayloadBytes` to dead letters: no upstream
    /// under that limit could ever take it, and retrying it would block the queue behind it.
    func deadLetterOversized(_ row: SplicedRow) async throws {
        let limit = configuration.maxPayloadBytes ?? 0
        logger.error(
            "a row larger than the upstream's batch.max_bytes moved to dead letters",
            metadata: ["upstream": "\(name)", "sequence": "\(row.sequence)", "max_bytes": "\(limit)"])
        try await deadLetter(
            [Self.letterRow(row)], kind: .upstream, error: "the row alone encodes larger than batch.max_bytes (\(limit) bytes)",
            attempts: 0)
    }
}
