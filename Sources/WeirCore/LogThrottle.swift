import Synchronization

/// Lets one log line per key through per interval (the first at once), so a flood of failures is
/// counted in metrics but does not flood the journal. Counts the calls it refused since the last
/// one it let through.
public struct LogThrottle: Sendable {
    private struct Entry {
        var last: UInt64
        var suppressed: Int
    }

    /// Nanoseconds between two lines of the same key.
    public let interval: UInt64
    private var entries: [String: Entry] = [:]

    public init(interval: Duration) {
        let (seconds, attoseconds) = interval.components
        self.interval = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    /// Whether a line for `key` may be logged now; records it when so.
    public mutating func allow(_ key: String = "", now: UInt64 = monotonicNanos()) -> Bool {
        if let entry = entries[key], now < entry.last + interval {
            entries[key]?.suppressed += 1
            return false
        }
        entries[key] = Entry(last: now, suppressed: 0)
        return true
    }

    /// How many calls for `key` were refused since the last one let through.
    public func suppressed(_ key: String = "") -> Int { entries[key]?.suppressed ?? 0 }
}

/// A `LogThrottle` that several threads share.
public final class SharedLogThrottle: Sendable {
    private let throttle: Mutex<LogThrottle>

    public init(interval: Duration) {
        throttle = Mutex(LogThrottle(interval: interval))
    }

    /// Whether a line for `key` may be logged now; records it when so.
    public func allow(_ key: String = "", now: UInt64 = monotonicNanos()) -> Bool {
        throttle.withLock { $0.allow(key, now: now) }
    }

    /// How many calls for `key` were refused since the last one let through.
    public func suppressed(_ key: String = "") -> Int {
        throttle.withLock { $0.suppressed(key) }
    }
}
