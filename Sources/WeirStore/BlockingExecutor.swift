import Dispatch

/// Runs blocking work (RocksDB reads and writes, zstd on big buffers) on a dedicated serial
/// thread, so async callers never block a thread of the cooperative pool.
public final class BlockingExecutor: Sendable {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label)
    }

    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try work() })
            }
        }
    }

    /// Queues `work` without waiting for it; a later `run` starts only after it (the queue is serial).
    public func enqueue(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }
}
