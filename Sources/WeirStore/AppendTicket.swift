import Synchronization

/// The pending result of one outbox append: enqueued at once (keeping the order of the calls),
/// durable later. Awaiting `sequence` returns once the record is in the fsynced WAL.
public final class AppendTicket: Sendable {
    private struct State {
        var result: Result<UInt64, any Error>?
        var waiters: [CheckedContinuation<UInt64, any Error>] = []
    }

    private let state = Mutex(State())

    init() {}

    init(failed error: any Error) {
        state.withLock { $0.result = .failure(error) }
    }

    /// The record's sequence number, once it is durable.
    public var sequence: UInt64 {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { s -> Result<UInt64, any Error>? in
                    if s.result == nil { s.waiters.append(continuation) }
                    return s.result
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }

    func complete(_ result: Result<UInt64, any Error>) {
        let waiters = state.withLock { s in
            s.result = result
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}
