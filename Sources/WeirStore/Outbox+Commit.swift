import Dispatch
import Logging
import WeirCore
import WeirRocksDB

/// The committer: the only writer of an outbox's keys, head, tail and totals.
extension Outbox {
    /// Everything one commit takes from the shared state.
    struct Group {
        var appends: [(record: [UInt8], priority: OutboxPriority, ticket: AppendTicket)]
        var acknowledgements: [Acknowledgement]
        var lanes: [Lane]
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
                    return Group(appends: s.appends, acknowledgements: s.acknowledgements, lanes: s.lanes, closed: s.closed)
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
        var lanes = group.lanes
        let appends = group.appends
        /// Appends dropped on arrival or refused, by index.
        var gone = Set<Int>()
        func size(_ index: Int) -> UInt64 { UInt64(appends[index].record.count + OutboxValue.headerSize) }
        var rejected: [AppendTicket] = []
        var droppedOnArrival: [(ticket: AppendTicket, sequence: UInt64)] = []
        var removed = (sent: UInt64(0), dropped: UInt64(0), expired: UInt64(0))
        var droppedByClass = [UInt64](repeating: 0, count: lanes.count)
        batch.clear()
        do {
            for acknowledgement in group.acknowledgements.sorted(by: { $0.through < $1.through }) {
                let l = acknowledgement.priority.rawValue
                guard acknowledgement.through >= lanes[l].head, lanes[l].depth > 0 else { continue }
                let last = min(acknowledgement.through, lanes[l].tail - 1)
                let freed = try acknowledged(acknowledgement, lane: l, head: lanes[l].head, last: last, tail: lanes[l].tail)
                remove(freed, from: l, &lanes, batch)
                lanes[l].counters.sent += freed.count
                removed.sent += freed.count
            }
            if expire, let ttl = limits.ttl {
                let cutoff = clock() - ttl.milliseconds
                for l in lanes.indices where lanes[l].depth > 0 {
                    // Bounded per pass so a huge expiry cannot hold appends up for long.
                    let old = try measureFromHead(l, lanes[l], limit: 100_000) { appendedAt, _ in (appendedAt ?? .max) < cutoff }
                    remove(old, from: l, &lanes, batch)
                    lanes[l].counters.expired += old.count
                    removed.expired += old.count
                }
            }
            var stored = lanes.reduce(0) { $0 + $1.counters.bytes }
            var incoming = appends.indices.reduce(UInt64(0)) { $0 + size($1) }
            if let maxBytes = limits.maxBytes, stored + incoming > maxBytes {
                if limits.whenFull == .dropOldest {
                    // The lowest class goes first, oldest first; a higher class only when the lower are empty.
                    for l in lanes.indices.reversed() where stored + incoming > maxBytes && lanes[l].depth > 0 {
                        let need = stored + incoming - maxBytes
                        let oldest = try measureFromHead(l, lanes[l], limit: .max) { _, soFar in soFar < need }
                        remove(oldest, from: l, &lanes, batch)
                        stored -= min(oldest.bytes, stored)
                        lanes[l].counters.dropped += oldest.count
                        droppedByClass[l] += oldest.count
                        removed.dropped += oldest.count
                    }
                    // The group alone is over the cap (a burst during a slow fsync), and every class is
                    // empty by now: its own records go, lowest class and oldest first, as if appended
                    // and dropped at once; at least one (the highest class's newest) is kept.
                    for index in Self.giveWayOrder(appends, newestFirst: false)
                    where appends.count - gone.count > 1 && stored + incoming > maxBytes {
                        let l = appends[index].priority.rawValue
                        gone.insert(index)
                        droppedOnArrival.append((appends[index].ticket, lanes[l].tail))
                        incoming -= size(index)
                        lanes[l].tail += 1
                        lanes[l].head = lanes[l].tail
                        lanes[l].counters.dropped += 1
                        droppedByClass[l] += 1
                        removed.dropped += 1
                    }
                }
                // What still does not fit (everything new under reject_new; a record larger than
                // the whole cap under drop_oldest) is refused: the lowest class first, newest first.
                for index in Self.giveWayOrder(appends, newestFirst: true) where !gone.contains(index) && stored + incoming > maxBytes {
                    gone.insert(index)
                    incoming -= size(index)
                    lanes[appends[index].priority.rawValue].counters.rejected += 1
                    rejected.append(appends[index].ticket)
                }
            }
            let accepted = appends.indices.filter { !gone.contains($0) }.map { appends[$0] }
            let appendedAt = clock()
            var sequences: [UInt64] = []
            sequences.reserveCapacity(accepted.count)
            for append in accepted {
                let l = append.priority.rawValue
                let value = OutboxValue.encode(append.record, appendedAt: appendedAt)
                batch.put(keys[l].key(lanes[l].tail), value)
                lanes[l].counters.bytes += UInt64(value.count)
                sequences.append(lanes[l].tail)
                lanes[l].tail += 1
            }
            for l in lanes.indices {
                lanes[l].counters.nextSequence = lanes[l].tail
                // The normal class's totals are always written (as before classes existed); the
                // others' once they are used.
                if l == OutboxPriority.normal.rawValue || lanes[l].counters != group.lanes[l].counters {
                    batch.put(keys[l].meta, lanes[l].counters.encoded)
                }
            }
            try db.write(batch, sync: !accepted.isEmpty)
            state.withLock { $0.lanes = lanes }
            metrics.record(lanes)
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
        for (counter, dropped) in zip(metrics.classDroppedFull, droppedByClass) where dropped > 0 { counter.increment(by: Int(dropped)) }
        metrics.expired.increment(by: Int(removed.expired))
        metrics.rejected.increment(by: rejected.count)
        report.add(dropped: removed.dropped, expired: removed.expired, rejected: UInt64(rejected.count))
        report.logIfDue(outbox: name, limits: limits, logger: logger)
        compactIfWorthIt(deleted: removed.sent + removed.dropped + removed.expired, heads: lanes.map(\.head))
    }

    /// Indices of the group's appends in the order they give way when the outbox is full: the
    /// lowest class first, and within a class the oldest (dropped) or the newest (refused) first.
    static func giveWayOrder(_ appends: [(record: [UInt8], priority: OutboxPriority, ticket: AppendTicket)], newestFirst: Bool) -> [Int] {
        appends.indices.sorted { a, b in
            let (pa, pb) = (appends[a].priority, appends[b].priority)
            if pa != pb { return pa > pb }
            return newestFirst ? a > b : a < b
        }
    }

    /// Deletes the first `span.count` records of lane `l` (their stored bytes are `span.bytes`).
    private func remove(_ span: (count: UInt64, bytes: UInt64), from l: Int, _ lanes: inout [Lane], _ batch: WriteBatch) {
        guard span.count > 0 else { return }
        batch.deleteRange(from: keys[l].key(lanes[l].head), to: keys[l].key(lanes[l].head + span.count))
        lanes[l].head += span.count
        lanes[l].counters.bytes -= min(span.bytes, lanes[l].counters.bytes)
    }

    /// The records from `head` through `last` that `acknowledgement` frees, and their stored bytes:
    /// from the sizes it carries when they cover that range (the head may have moved past its
    /// first record, by a drop or expiry meanwhile), else measured by reading the records.
    private func acknowledged(_ acknowledgement: Acknowledgement, lane l: Int, head: UInt64, last: UInt64, tail: UInt64) throws -> (
        count: UInt64, bytes: UInt64
    ) {
        if let sizes = acknowledgement.sizes, sizes.first <= head, last - sizes.first < UInt64(sizes.bytes.count) {
            let bytes = sizes.bytes[Int(head - sizes.first)...Int(last - sizes.first)].reduce(0, +)
            return (last - head + 1, bytes)
        }
        return try measureFromHead(l, Lane(head: head, tail: tail, counters: OutboxCounters()), limit: last - head + 1) { _, _ in true }
    }

    /// Counts the contiguous records of lane `l` from its head (before its tail, at most `limit`)
    /// for which `include(appendedAt, bytesSoFar)` holds, and their stored bytes.
    private func measureFromHead(
        _ l: Int, _ lane: Lane, limit: UInt64, include: (Int64?, UInt64) -> Bool
    ) throws -> (count: UInt64, bytes: UInt64) {
        var count: UInt64 = 0
        var bytes: UInt64 = 0
        try db.scan(from: keys[l].key(lane.head), upTo: keys[l].key(lane.tail)) { _, value in
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
    private func compactIfWorthIt(deleted: UInt64, heads: [UInt64]) {
        let total = deletedSinceCompaction.add(deleted, ordering: .relaxed).newValue
        guard total >= 200_000, !compacting.exchange(true, ordering: .acquiring) else { return }
        deletedSinceCompaction.store(0, ordering: .relaxed)
        let (db, ranges) = (db, zip(keys, heads).map { (from: $0.prefix, to: $0.key($1)) })
        let started = JoinableOSThread.start(name: "weir-compact") { [self] in
            for range in ranges { try? db.compactRange(from: range.from, to: range.to) }
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
