import Synchronization

/// A one-shot result that any number of tasks can await: set once (later calls are ignored),
/// from any thread, including C callback threads that must not block.
public final class AsyncLatch<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [CheckedContinuation<Value, any Error>] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// A latch that already holds `result`.
    public init(_ result: Result<Value, any Error>) {
        state.withLock { $0.result = result }
    }

    /// Sets the result and wakes the waiters; false when it was already set.
    @discardableResult
    public func complete(_ result: Result<Value, any Error>) -> Bool {
        let waiters = state.withLock { s -> [CheckedContinuation<Value, any Error>]? in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(with: result) }
        return true
    }

    /// The result once it is set.
    public var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { s -> Result<Value, any Error>? in
                    if s.result == nil { s.waiters.append(continuation) }
                    return s.result
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }

    /// Whether the result is set.
    public var isComplete: Bool { state.withLock { $0.result != nil } }
}
