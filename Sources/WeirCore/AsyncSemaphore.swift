import DequeModule
import Synchronization

/// A counting semaphore for async code: at most `limit` holders at once; `acquire` suspends (in
/// FIFO order) while none is free. `waitUntilIdle` returns once every permit is back.
public final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: Deque<CheckedContinuation<Void, Never>> = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public let limit: Int
    private let state: Mutex<State>

    public init(limit: Int) {
        precondition(limit > 0)
        self.limit = limit
        state = Mutex(State(available: limit))
    }

    public func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { s -> Bool in
                if s.available > 0 {
                    s.available -= 1
                    return true
                }
                s.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    public func release() {
        let (next, idle) = state.withLock { s -> (CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, Never>]) in
            if let waiter = s.waiters.popFirst() { return (waiter, []) }
            s.available += 1
            guard s.available == limit else { return (nil, []) }
            defer { s.idleWaiters.removeAll() }
            return (nil, s.idleWaiters)
        }
        next?.resume()
        for waiter in idle { waiter.resume() }
    }

    /// Callers suspended in `acquire`.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Permits currently held.
    public var held: Int { state.withLock { limit - $0.available } }

    /// Returns once no permit is held.
    public func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                if s.available == limit { return true }
                s.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}
