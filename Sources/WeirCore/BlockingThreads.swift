import DequeModule
import Dispatch
import Synchronization

/// OS threads for blocking work (waiting on a child process, a worker's pipe), started on demand
/// up to `limit` and kept. Dispatch's global queue is no substitute on Linux: its width is the
/// number of CPUs, so on a 2-core gateway a third blocking call would wait for one of the first
/// two, and a function's `concurrency` could never exceed the core count.
public final class BlockingThreads: Sendable {
    public let limit: Int
    private let name: String
    private let ready = DispatchSemaphore(value: 0)
    private let state = Mutex<(jobs: Deque<@Sendable () -> Void>, idle: Int, threads: Int)>(([], 0, 0))

    public init(limit: Int, name: String) {
        self.limit = max(1, limit)
        self.name = name
    }

    /// Runs `work` on one of the threads and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: work()) }
        }
    }

    /// Queues `work` for a thread, starting one when none is idle and the limit allows.
    public func submit(_ work: @escaping @Sendable () -> Void) {
        let start = state.withLock { s -> Bool in
            s.jobs.append(work)
            // Idle threads may already be spoken for by jobs queued before this one.
            guard s.jobs.count > s.idle, s.threads < limit else { return false }
            s.threads += 1
            return true
        }
        if start && !tryStartOSThread(name: name, { [self] in loop() }) {
            state.withLock { $0.threads -= 1 }
            // No thread to be had: the job still runs, on Dispatch, rather than never.
            if state.withLock({ $0.threads }) == 0 {
                DispatchQueue.global().async { [self] in
                    if let job = state.withLock({ $0.jobs.popFirst() }) { job() }
                }
                return
            }
        }
        ready.signal()
    }

    private func loop() {
        while true {
            state.withLock { $0.idle += 1 }
            ready.wait()
            let job = state.withLock { s -> (@Sendable () -> Void)? in
                s.idle -= 1
                return s.jobs.popFirst()
            }
            job?()
        }
    }
}
