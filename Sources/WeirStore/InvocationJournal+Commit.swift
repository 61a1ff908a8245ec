import Logging
import WeirCore
import WeirRocksDB

/// The committer: the only writer of the journal's keys, sizes and next-id mark.
extension InvocationJournal {
    /// Whatever is pending when the thread wakes is one group: one batch, one fsync if it holds a
    /// record. After a failed write it waits for new work instead of retrying at once, so a full
    /// disk costs one attempt per group of new records, not a spinning thread.
    func commitLoop() {
        let batch = WriteBatch()
        var failures = FailureReport()
        while true {
            wake.wait()
            while true {
                let (operations, closed) = state.withLock { s in
                    defer {
                        s.pending.removeAll(keepingCapacity: true)
                        s.signalled = false
                    }
                    return (s.pending, s.closed)
                }
                if operations.isEmpty {
                    progress.end()
                    if closed { return }
                    break
                }
                progress.begin()
                let written = commit(operations, batch: batch, closing: closed, failures: &failures)
                progress.advance()
                if closed { return }
                if !written {
                    progress.end()
                    break
                }
            }
        }
    }

    /// Writes `operations` as one batch. Returns false when the write failed: the group's records
    /// are dropped (their callbacks get the error) and its updates and removals go back to the
    /// front of the queue, to be tried again with the next group.
    private func commit(_ operations: [Operation], batch: WriteBatch, closing: Bool, failures: inout FailureReport) -> Bool {
        batch.clear()
        // This group's records as last updated: encoded once, after the updates that follow them.
        var records: [UInt64: JournalEntry] = [:]
        var callbacks: [Callback] = []
        // Per id touched: its new stored size, or nil when deleted.
        var sizes: [UInt64: Int?] = [:]
        var recorded = Set<UInt64>()
        var highest: UInt64 = 0
        do {
            for operation in operations {
                switch operation {
                case .record(let entry, let callback):
                    records[entry.id] = entry
                    callbacks.append(callback)
                    recorded.insert(entry.id)
                    highest = max(highest, entry.id)
                case .update(let id, let attempt):
                    if var entry = records[id] {
                        entry.attempt = attempt
                        records[id] = entry
                    } else if case .some(.none) = sizes[id] {
                        continue  // removed earlier in this group
                    } else if let stored = try db.get(JournalFormat.key(id)), var entry = try? JournalFormat.decode(stored) {
                        entry.id = id
                        entry.attempt = attempt
                        let value = try JournalFormat.encode(entry)
                        batch.put(JournalFormat.key(id), value)
                        sizes[id] = value.count
                    }
                case .remove(let id):
                    records[id] = nil
                    batch.delete(JournalFormat.key(id))
                    sizes[id] = .some(nil)
                }
            }
            for (id, entry) in records.sorted(by: { $0.key < $1.key }) {
                let value = try JournalFormat.encode(entry)
                batch.put(JournalFormat.key(id), value)
                sizes[id] = value.count
            }
            if !callbacks.isEmpty { batch.put(JournalFormat.meta, [UInt8](bigEndian: highest + 1)) }
            if injectedFailures.load(ordering: .relaxed) > 0 {
                injectedFailures.subtract(1, ordering: .relaxed)
                throw InjectedWriteFailure()
            }
            try db.write(batch, sync: !callbacks.isEmpty)
        } catch {
            let retry = operations.filter { operation in
                switch operation {
                case .record: return false
                case .update(let id, _), .remove(let id): return !recorded.contains(id)
                }
            }
            if !closing { state.withLock { $0.pending.insert(contentsOf: retry, at: 0) } }
            failures.add(records: callbacks.count, error: error, logger: logger)
            for callback in callbacks { callback(error) }
            return false
        }
        if callbacks.isEmpty {
            unsyncedWrites.add(1, ordering: .relaxed)
        } else {
            syncedWrites.add(1, ordering: .relaxed)
        }
        state.withLock { s in
            for (id, size) in sizes {
                let old = s.sizes[id]
                s.sizes[id] = size
                s.bytes += (size ?? 0) - (old ?? 0)
            }
        }
        for callback in callbacks { callback(nil) }
        return true
    }
}

/// What a write fails with when a test injects a failure (as ENOSPC or EIO would).
struct InjectedWriteFailure: Error, CustomStringConvertible {
    var description: String { "IO error: No space left on device (injected)" }
}

/// Failed writes are logged at most every 10 s, with how many records failed since the last line,
/// so a full disk cannot flood the journal.
struct FailureReport {
    var records = 0
    var groups = 0
    var throttle = LogThrottle(interval: .seconds(10))

    mutating func add(records: Int, error: any Error, logger: Logger) {
        self.records += records
        groups += 1
        guard throttle.allow() else { return }
        logger.error(
            "invocation journal write failed; the invocations were refused",
            metadata: ["records": "\(self.records)", "writes": "\(groups)", "error": "\(error)"])
        (self.records, groups) = (0, 0)
    }
}
