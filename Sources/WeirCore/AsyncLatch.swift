import Synchronization

/// A one-shot result that any number of tasks can await: set once (later calls are ignored),
/// from any thread, including C callback threads that must not block.
public final class AsyncLatch<Value: Sendable>: Sendable {
    private typealias Waiter = CheckedContinuation<Result<Value, any Error>?, Never>

    private struct State {
        var result: Result<Value, any Error>?
        var nextID = 0
        /// In arrival order; the id lets a cancelled waiter take itself out.
        var waiters: [(id: Int, continuation: Waiter)] = []
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
        let waiters = state.withLock { s -> [(id: Int, continuation: Waiter)]? in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.continuation.resume(returning: result) }
        return true
    }

    /// The result once it is set (waiting is not cut short by cancellation).
    public var value: Value {
        get async throws {
            // Never nil: only a cancellable wait ends without the result.
            try await suspend(id: 0, cancellable: false)!.get()
        }
    }

    /// The result once it is set, or nil if the task is cancelled first.
    public func resultUnlessCancelled() async -> Result<Value, any Error>? {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await suspend(id: id, cancellable: true)
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Waits for the result for at most `timeout` (or until the task is cancelled); true when it is set.
    @discardableResult
    public func wait(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.resultUnlessCancelled() != nil }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Whether the result is set.
    public var isComplete: Bool { state.withLock { $0.result != nil } }

    private func suspend(id: Int, cancellable: Bool) async -> Result<Value, any Error>? {
        await withCheckedContinuation { continuation in
            let immediate = state.withLock { s -> Result<Value, any Error>?? in
                if let result = s.result { return .some(result) }
                if cancellable && Task.isCancelled { return .some(nil) }
                s.waiters.append((id, continuation))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }
}
