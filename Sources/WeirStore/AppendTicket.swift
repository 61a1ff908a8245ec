import WeirCore

/// The pending result of one outbox append: enqueued at once (keeping the order of the calls),
/// durable later. Awaiting `sequence` returns once the record is in the fsynced WAL.
public struct AppendTicket: Sendable {
    private let latch: AsyncLatch<UInt64>

    init() {
        latch = AsyncLatch()
    }

    init(failed error: any Error) {
        latch = AsyncLatch(.failure(error))
    }

    /// The record's sequence number, once it is durable.
    public var sequence: UInt64 {
        get async throws { try await latch.value }
    }

    func complete(_ result: Result<UInt64, any Error>) {
        latch.complete(result)
    }
}
