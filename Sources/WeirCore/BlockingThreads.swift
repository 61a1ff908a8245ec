import DequeModule
import Dispatch
import Synchronization

/// OS threads for blocking work (waiting on a child process or a worker's pipe, RocksDB reads and
/// writes, joining a C library's thread), started on demand up to `limit` and kept while the
/// instance lives. Dispatch's global queue is no substitute on Linux: its width is the number of
/// CPUs, so on a 2-core gateway a third blocking call would wait for one of the first two, and a
/// function's `concurrency` could never exceed the core count.
///
/// With `limit: 1` (`serial(name:)`) the instance is a serial lane: jobs run one at a time in the
/// order they were submitted, so a `run` after a `submit` starts only once that job is done.
public final class BlockingThreads: Sendable {
    public let limit: Int
    private let lanes: Lanes

    public init(limit: Int, name: String) {
        self.limit = max(1, limit)
        lanes = Lanes(limit: self.limit, name: name)
    }

    /// One thread, jobs in submission order.
    public static func serial(name: String) -> BlockingThreads {
        BlockingThreads(limit: 1, name: name)
    }

    /// For the process's occasional blocking calls that have no instance of their own (a service
    /// joining a C library's thread on shutdown, a dead letter's write): wide enough that one
    /// call that blocks for long does not hold up the others.
    public static let shared = BlockingThreads(limit: 64, name: "weir-blocking")

    /// The threads end once they have run the jobs already queued.
    deinit { lanes.close() }

    /// Runs `work` on one of the threads and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            lanes.submit { continuation.resume(returning: work()) }
        }
    }

    /// Runs `work` on one of the threads and returns its result or rethrows its error.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            lanes.submit { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Queues `work` for a thread without waiting for it, starting one when none is idle and the
    /// limit allows.
    public func submit(_ work: @escaping @Sendable () -> Void) {
        lanes.submit(work)
    }
}

/// The queue and threads, apart from `BlockingThreads` so that the threads (which hold this)
/// do not keep the instance alive and it can end them when released.
private final class Lanes: Sendable {
    let limit: Int
    let name: String
    private let ready = DispatchSemaphore(value: 0)
    private let state = Mutex<(jobs: Deque<@Sendable () -> Void>, idle: Int, threads: Int, closed: Bool)>(([], 0, 0, false))

    init(limit: Int, name: String) {
        self.limit = limit
        self.name = name
    }

    func submit(_ work: @escaping @Sendable () -> Void) {
        let start = state.withLock { s -> Bool in
            s.jobs.append(work)
            // Idle threads may already be spoken for by jobs queued before this one.
            guard s.jobs.count > s.idle, s.threads < limit else { return false }
            s.threads += 1
            return true
        }
        if start && !tryStartOSThread(name: name, { [self] in loop() }) {
            state.withLock { $0.threads -= 1 }
            // No thread to be had: the job still runs, on Dispatch, rather than never (the one
            // use of Dispatch's global queue left, and only when the system refuses threads).
            if state.withLock({ $0.threads }) == 0 {
                DispatchQueue.global().async { [self] in
                    if let job = state.withLock({ $0.jobs.popFirst() }) { job() }
                }
                return
            }
        }
        ready.signal()
    }

    /// Wakes every thread; each ends when it finds the queue empty.
    func close() {
        let threads = state.withLock { s -> Int in
            s.closed = true
            return s.threads
        }
        for _ in 0..<threads { ready.signal() }
    }

    private func loop() {
        while true {
            state.withLock { $0.idle += 1 }
            ready.wait()
            let next = state.withLock { s -> (job: (@Sendable () -> Void)?, end: Bool) in
                s.idle -= 1
                if let job = s.jobs.popFirst() { return (job, false) }
                guard s.closed else { return (nil, false) }
                s.threads -= 1
                return (nil, true)
            }
            if next.end { return }
            next.job?()
        }
    }
}
