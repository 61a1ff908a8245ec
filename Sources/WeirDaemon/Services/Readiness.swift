import WeirCore

/// A one-shot latch: services wait on it, and ingest opens it once connected and subscribed.
public final class Readiness: Sendable {
    private let latch = AsyncLatch<Void>()

    public init() {}

    public var isReady: Bool { latch.isComplete }

    public func markReady() {
        latch.complete(.success(()))
    }

    /// Waits until ready; returns `false` if the task was cancelled first.
    @discardableResult
    public func wait() async -> Bool {
        await latch.resultUnlessCancelled() != nil
    }
}
