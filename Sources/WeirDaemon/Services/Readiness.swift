import Synchronization

/// A one-shot latch: services wait on it, and ingest opens it once connected and subscribed.
public final class Readiness: Sendable {
    private struct State {
        var ready = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public var isReady: Bool { state.withLock { $0.ready } }

    public func markReady() {
        let waiters = state.withLock { s in
            s.ready = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Waits until ready; returns `false` if the task was cancelled first.
    @discardableResult
    public func wait() async -> Bool {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate: Bool? = state.withLock { s in
                    if s.ready { return true }
                    if Task.isCancelled { return false }
                    s.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }
}
