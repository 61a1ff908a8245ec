import Synchronization

/// A loop's sign of life for the progress watchdog: whether it is working on something, and how
/// many units of work it has finished.
///
/// The loop calls `begin()` when it takes work, `advance()` for each unit done and `end()` when
/// it is out of work again. Idle (between `end` and `begin`) is never a stall, and neither is a
/// wait the loop was told to make (`exempt`, such as backpressure from a full pool): only busy
/// with no unit finished is. Marking costs two relaxed atomic operations, so hot loops can use it.
public final class ProgressMark: Sendable {
    /// What the watchdog names in its log: `ingest`, `outbox cloud`, `window checkpoints`.
    public let name: String
    private let busy = Atomic<Bool>(false)
    private let units = Atomic<UInt64>(0)
    private let exempt: (@Sendable () -> Bool)?

    /// - Parameter exempt: true while the loop waits on purpose (backpressure, a paused store):
    ///   such a wait is not a stall however long it lasts.
    public init(name: String, exempt: (@Sendable () -> Bool)? = nil) {
        self.name = name
        self.exempt = exempt
    }

    /// The loop took work.
    @inline(__always) public func begin() { busy.store(true, ordering: .relaxed) }

    /// The loop finished one unit of work.
    @inline(__always) public func advance() { units.add(1, ordering: .relaxed) }

    /// The loop is out of work.
    @inline(__always) public func end() { busy.store(false, ordering: .relaxed) }

    /// Whether the loop is busy now without an exemption, and the units it has finished.
    func observe() -> (working: Bool, units: UInt64) {
        let working = busy.load(ordering: .relaxed) && !(exempt?() ?? false)
        return (working, units.load(ordering: .relaxed))
    }
}

/// Watches a set of loops: a loop is stalled when it has been busy for `limit` without finishing
/// anything. The systemd notifier asks it before each `WATCHDOG=1`.
public final class ProgressWatch: Sendable {
    private struct Seen {
        var units: UInt64
        /// Monotonic nanoseconds of the last look that found the loop idle, exempt or moving.
        var movingAt: UInt64
    }

    private let marks: [ProgressMark]
    private let seen: Mutex<[Seen]>

    public init(_ marks: [ProgressMark]) {
        self.marks = marks
        let now = monotonicNanos()
        seen = Mutex(marks.map { Seen(units: $0.observe().units, movingAt: now) })
    }

    /// The loops busy without progress for longer than `limit`, with how long; empty when all is well.
    public func stalled(limit: Duration, now: UInt64 = monotonicNanos()) -> [(name: String, for: Duration)] {
        let limitNanos = UInt64(max(0, limit.nanoseconds))
        return seen.withLock { seen in
            var stalled: [(name: String, for: Duration)] = []
            for (index, mark) in marks.enumerated() {
                let (working, units) = mark.observe()
                if !working || units != seen[index].units {
                    seen[index] = Seen(units: units, movingAt: now)
                } else if now - seen[index].movingAt > limitNanos {
                    stalled.append((mark.name, .nanoseconds(Int64(now - seen[index].movingAt))))
                }
            }
            return stalled
        }
    }
}
