import Dispatch
import Logging
import WeirCore
import WeirRocksDB

/// The committer: the only writer of an outbox's keys, head, tail and totals.
extension Outbox {
    /// Everything one commit takes from the shared state.
    struct Group {
        var appends: [(record: [UInt8], ticket: AppendTicket)]
        var acknowledgements: [Acknowledgement]
        var head: UInt64
        var tail: UInt64
        var counters: OutboxCounters
        var closed: Bool
    }

    /// Leader-style group commit: whatever is pending is written in one batch with one fsync, and
    /// appends arriving during that fsync form the next group. `commitInterval` is the minimum time
    /// between fsync starts (a cap on fsyncs per second, for flash wear); zero commits as soon as
    /// the previous fsync ends. With a TTL the loop also wakes every second to expire old records.
    func commitLoop() {
        let batch = WriteBatch()
        let spacing = UInt64(max(0, commitInterval.milliseconds)) * 1_000_000
        var lastStart: UInt64 = 0
        var lastExpiry: UInt64 = 0
        var report = LimitReport()
        while true {
            if limits.ttl != nil {
                _ = wake.wait(timeout: .now() + .seconds(1))
            } else {
                wake.wait()
            }
            while true {
                let now = monotonicNanos()
                if spacing > 0, now < lastStart + spacing {
                    // Let the interval's other appends join this fsync.
                    _ = DispatchSemaphore(value: 0).wait(timeout: .now() + .nanoseconds(Int(lastStart + spacing - now)))
                }
                let group = state.withLock { s in
                    defer {
                        s.appends.removeAll(keepingCapacity: true)
                        s.acknowledgements.removeAll(keepingCapacity: true)
                    }
                    return Group(
                        appends: s.appends, acknowledgements: s.acknowledgements, head: s.head, tail: s.tail, counters: s.counters,
                        closed: s.closed)
                }
                let expire = limits.ttl != nil && monotonicNanos() >= lastExpiry + 1_000_000_000
                if group.appends.isEmpty && group.acknowledgements.isEmpty && !expire {
                    progress.end()
                    if group.closed { return }
                    break
                }
                if expire { lastExpiry = monotonicNanos() }
                if !group.appends.isEmpty { lastStart = monotonicNanos() }
                progress.begin()
                commit(group, expire: expire, batch: batch, report: &report)
                progress.advance()
                if group.closed { return }
            }
        }
    }

    private func commit(_ group: Group, expire: Bool, batch: WriteBatch, report: inout LimitReport) {
        var head = group.head
        var tail = group.tail
        var counters = group.counters
        var accepted = group.appends[...]
        var rejected: [AppendTicket] = []
        var droppedOnArrival: [(ticket: AppendTicket, sequence: UInt64)] = []
        var removed = (sent: UInt64(0), dropped: UInt64(0), expired: UInt64(0))
        batch.clear()
        do {
            for acknowledgement in group.acknowledgements.sorted(by: { $0.through < $1.through }) {
                guard acknowledgement.through >= head, head < tail else { continue }
                let last = min(acknowledgement.through, tail - 1)
                let freed = try acknowledged(acknowledgement, head: head, last: last, tail: tail)
                batch.deleteRange(from: keys.key(head), to: keys.key(head + freed.count))
                head += freed.count
                counters.bytes -= min(freed.bytes, counters.bytes)
                removed.sent += freed.count
            }
            if expire, let ttl = limits.ttl, head < tail {
                let cutoff = clock() - ttl.milliseconds
                // Bounded per pass so a huge expiry cannot hold appends up for long.
                let old = try measureFromHead(head, tail, limit: 100_000) { appendedAt, _ in (appendedAt ?? .max) < cutoff }
                batch.deleteRange(from: keys.key(head), to: keys.key(head + old.count))
                head += old.count
                counters.bytes -= min(old.bytes, counters.bytes)
                removed.expired = old.count
            }
            let sizes = accepted.map { UInt64($0.record.count + OutboxValue.headerSize) }
            var incoming = sizes.reduce(0, +)
            if let maxBytes = limits.maxBytes, counters.bytes + incoming > maxBytes {
                if limits.whenFull == .dropOldest, head < tail {
                    let need = counters.bytes + incoming - maxBytes
                    let oldest = try measureFromHead(head, tail, limit: .max) { _, soFar in soFar < need }
                    batch.deleteRange(from: keys.key(head), to: keys.key(head + oldest.count))
                    head += oldest.count
                    counters.bytes -= min(oldest.bytes, counters.bytes)
                    removed.dropped = oldest.count
                }
                if limits.whenFull == .dropOldest {
                    // The group alone is over the cap (a burst during a slow fsync): its own
                    // oldest records go, as if appended and dropped at once; the newest are kept.
                    var front = 0
                    while accepted.count > 1, counters.bytes + incoming > maxBytes {
                        droppedOnArrival.append((accepted.removeFirst().ticket, tail))
                        incoming -= sizes[front]
                        front += 1
                        tail += 1
                        head = tail
                        removed.dropped += 1
                    }
                }
                // What still does not fit (everything new under reject_new; a record larger than
                // the whole cap under drop_oldest) is refused, newest first.
                var index = sizes.count
                while !accepted.isEmpty, counters.bytes + incoming > maxBytes {
                    index -= 1
                    incoming -= sizes[index]
                    rejected.append(accepted.removeLast().ticket)
                }
            }
            let appendedAt = clock()
            var sequences: [UInt64] = []
            sequences.reserveCapacity(accepted.count)
            for append in accepted {
                let value = OutboxValue.encode(append.record, appendedAt: appendedAt)
                batch.put(keys.key(tail), value)
                counters.bytes += UInt64(value.count)
                sequences.append(tail)
                tail += 1
            }
            counters.sent += removed.sent
            counters.dropped += removed.dropped
            counters.expired += removed.expired
            counters.rejected += UInt64(rejected.count)
            counters.nextSequence = tail
            batch.put(keys.meta, counters.encoded)
            try db.write(batch, sync: !accepted.isEmpty)
            state.withLock { s in
                s.head = head
                s.tail = tail
                s.counters = counters
            }
            metrics.depth.record(Int(tail - head))
            for (append, sequence) in zip(accepted, sequences) { append.ticket.complete(.success(sequence)) }
            for dropped in droppedOnArrival { dropped.ticket.complete(.success(dropped.sequence)) }
            for ticket in rejected { ticket.complete(.failure(OutboxFull(name: name))) }
            for acknowledgement in group.acknowledgements { acknowledgement.continuation?.resume() }
            if !accepted.isEmpty || !droppedOnArrival.isEmpty { wakeWaiters() }
        } catch {
            // Not durable and not final: the rows' events are not acknowledged, and come again.
            let failure = StoreWriteFailed(reason: "outbox '\(name)': \(error)")
            for append in group.appends { append.ticket.complete(.failure(failure)) }
            for acknowledgement in group.acknowledgements { acknowledgement.continuation?.resume(throwing: error) }
            return
        }
        metrics.droppedFull.increment(by: Int(removed.dropped))
        metrics.expired.increment(by: Int(removed.expired))
        metrics.rejected.increment(by: rejected.count)
        report.add(dropped: removed.dropped, expired: removed.expired, rejected: UInt64(rejected.count))
        report.logIfDue(outbox: name, limits: limits, logger: logger)
        compactIfWorthIt(deleted: removed.sent + removed.dropped + removed.expired, head: head)
    }

    /// The records from `head` through `last` that `acknowledgement` frees, and their stored bytes:
    /// from the sizes it carries when they cover that range (the head may have moved past its
    /// first record, by a drop or expiry meanwhile), else measured by reading the records.
    private func acknowledged(_ acknowledgement: Acknowledgement, head: UInt64, last: UInt64, tail: UInt64) throws -> (
        count: UInt64, bytes: UInt64
    ) {
        if let sizes = acknowledgement.sizes, sizes.first <= head, last - sizes.first < UInt64(sizes.bytes.count) {
            let bytes = sizes.bytes[Int(head - sizes.first)...Int(last - sizes.first)].reduce(0, +)
            return (last - head + 1, bytes)
        }
        return try measureFromHead(head, tail, limit: last - head + 1) { _, _ in true }
    }

    /// Counts the contiguous records from `head` (before `tail`, at most `limit`) for which
    /// `include(appendedAt, bytesSoFar)` holds, and their stored bytes.
    private func measureFromHead(
        _ head: UInt64, _ tail: UInt64, limit: UInt64, include: (Int64?, UInt64) -> Bool
    ) throws -> (count: UInt64, bytes: UInt64) {
        var count: UInt64 = 0
        var bytes: UInt64 = 0
        try db.scan(from: keys.key(head), upTo: keys.key(tail)) { _, value in
            guard count < limit, include(OutboxValue.decode(value)?.appendedAt, bytes) else { return false }
            count += 1
            bytes += UInt64(value.count)
            return true
        }
        return (count, bytes)
    }

    /// After many deletions, compacts the deleted key range on its own thread so range tombstones
    /// and dead records stop costing disk space and seek time. `close()` joins that thread, so no
    /// compaction outlives the outbox (or runs into the process's exit).
    private func compactIfWorthIt(deleted: UInt64, head: UInt64) {
        let total = deletedSinceCompaction.add(deleted, ordering: .relaxed).newValue
        guard total >= 200_000, !compacting.exchange(true, ordering: .acquiring) else { return }
        deletedSinceCompaction.store(0, ordering: .relaxed)
        let (db, from, to) = (db, keys.prefix, keys.key(head))
        let started = JoinableOSThread.start(name: "weir-compact") { [self] in
            try? db.compactRange(from: from, to: to)
            compacting.store(false, ordering: .releasing)
        }
        guard let thread = started else {
            // No thread to be had (task limits): compaction waits for the next 200,000 deletions.
            logger.warning("outbox compaction skipped: \(ThreadStartFailed(name: "weir-compact"))", metadata: ["upstream": "\(name)"])
            compacting.store(false, ordering: .releasing)
            return
        }
        let previous = compactor.withLock { slot in
            defer { slot = thread }
            return slot
        }
        previous?.join()  // already finished: `compacting` was false
    }
}

/// Drops, expiries and rejections are logged, but at most every 10 s with the totals since the
/// last line, so a full outbox cannot flood the journal.
struct LimitReport {
    var dropped: UInt64 = 0
    var expired: UInt64 = 0
    var rejected: UInt64 = 0
    var throttle = LogThrottle(interval: .seconds(10))

    mutating func add(dropped: UInt64, expired: UInt64, rejected: UInt64) {
        self.dropped += dropped
        self.expired += expired
        self.rejected += rejected
    }

    mutating func logIfDue(outbox: String, limits: OutboxLimits, logger: Logger) {
        guard dropped + expired + rejected > 0 else { return }
        guard throttle.allow() else { return }
        if dropped > 0 {
            logger.warning(
                "outbox full: dropped oldest records",
                metadata: ["upstream": "\(outbox)", "records": "\(dropped)", "max_bytes": "\(limits.maxBytes ?? 0)"])
        }
        if rejected > 0 {
            logger.warning(
                "outbox full: rejected new records",
                metadata: ["upstream": "\(outbox)", "records": "\(rejected)", "max_bytes": "\(limits.maxBytes ?? 0)"])
        }
        if expired > 0 {
            logger.warning(
                "outbox records expired undelivered",
                metadata: ["upstream": "\(outbox)", "records": "\(expired)", "ttl": "\(limits.ttl.map { "\($0)" } ?? "")"])
        }
        (dropped, expired, rejected) = (0, 0, 0)
    }
}
