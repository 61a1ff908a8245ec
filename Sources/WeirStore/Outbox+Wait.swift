import WeirCore

/// Waking readers when records are committed, and what readers hand back.
extension Outbox {
    /// One `acknowledge` call waiting for the committer. `sizes`, when known, are the stored bytes
    /// of the records from `first` on, so the committer need not read them to count them.
    struct Acknowledgement {
        var through: UInt64
        var priority: OutboxPriority
        var sizes: (first: UInt64, bytes: [UInt64])?
        var continuation: CheckedContinuation<Void, any Error>?
    }

    /// Returns once the outbox holds a committed record of class `priority` whose sequence is
    /// above `sequence` (with no class: any committed record of any class), or when the outbox
    /// closes or the task is cancelled. The committer resumes it after the write: a reader waits
    /// on this instead of polling.
    public func waitForRecords(after sequence: UInt64 = 0, priority: OutboxPriority? = nil) async {
        let id = state.withLock { s in
            defer { s.nextWaitID += 1 }
            return s.nextWaitID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.closed || s.cancelledWaits.remove(id) != nil || Self.holds(after: sequence, priority, s.lanes) { return true }
                    s.waiters.append((id, sequence, priority, continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiting = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else {
                    s.cancelledWaits.insert(id)
                    return nil
                }
                return s.waiters.remove(at: index).continuation
            }
            waiting?.resume()
        }
        // A cancellation after the wait ended leaves its id behind: forget it.
        state.withLock { _ = $0.cancelledWaits.remove(id) }
    }

    /// A stored record above `sequence` exists in class `priority` (the next sequence is past both
    /// it and the head), or, with no class, any stored record.
    static func holds(after sequence: UInt64, _ priority: OutboxPriority?, _ lanes: [Lane]) -> Bool {
        guard let priority else { return lanes.contains { $0.depth > 0 } }
        let lane = lanes[priority.rawValue]
        return lane.tail > max(sequence &+ 1, lane.head)
    }

    /// Resumes the waiters whose record has come (all of them once closed); called after a commit.
    func wakeWaiters() {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard !s.waiters.isEmpty else { return [] }
            var ready: [CheckedContinuation<Void, Never>] = []
            var waiting = s.waiters
            let (closed, lanes) = (s.closed, s.lanes)
            waiting.removeAll { waiter in
                guard closed || Self.holds(after: waiter.after, waiter.priority, lanes) else { return false }
                ready.append(waiter.continuation)
                return true
            }
            s.waiters = waiting
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Readers waiting in `waitForRecords` (for tests: a reader is parked, not polling).
    var waitingReaders: Int { state.withLock { $0.waiters.count } }
}

/// What `Outbox.peek(after:maxRecords:maxBytes:atLeastOne:)` read.
public struct OutboxRead: Sendable {
    public var entries: [OutboxEntry]
    /// A further record was there but did not fit in `maxBytes`.
    public var full: Bool
}
