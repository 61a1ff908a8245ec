import Synchronization

/// Metric handles (counters, gauges, timers, or a struct or tuple of them) per key, made on first
/// use and kept: making a handle goes through the metrics factory's lock, too much work for every
/// event. Generic over the handles, so WeirCore needs no metrics dependency.
public final class MetricHandles<Key: Hashable & Sendable, Handles: Sendable>: Sendable {
    private let cache = Mutex<[Key: Handles]>([:])

    public init() {}

    /// The handles of `key`, made with `make` the first time (under the lock, so only once).
    public func handles(for key: Key, make: (Key) -> Handles) -> Handles {
        cache.withLock { cache in
            if let found = cache[key] { return found }
            let made = make(key)
            cache[key] = made
            return made
        }
    }

    /// The handles of `key` if they have been made.
    public func existing(_ key: Key) -> Handles? {
        cache.withLock { $0[key] }
    }

    /// How many keys have handles.
    public var count: Int { cache.withLock { $0.count } }
}
