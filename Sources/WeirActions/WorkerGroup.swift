import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRules

/// The long-lived processes of one `mode: worker` function: at most `size`, each serving one
/// request at a time (the function's concurrency permits guarantee one is free at checkout).
/// A worker that died, hung or broke the protocol is stopped at checkin and a replacement started
/// at once, so the next request does not pay its start. One that keeps failing is started again
/// with a growing delay (100 ms doubling to 30 s, reset by a request it serves): a program that
/// crashes at once cannot make Weir fork on every event. Calls block: make them off the pool.
final class WorkerGroup: Sendable {
    let function: String
    let program: FunctionSpec.Program
    let environment: [String: String]
    let size: Int
    let logger: Logger
    let replaced: Counter
    private struct State {
        var idle: [WorkerProcess] = []
        var busy = 0
        var closed = false
        /// Workers replaced since one last served a request.
        var failures = 0
        /// No worker is started before this (monotonic ns) while `failures` > 0.
        var nextStart: UInt64 = 0
        var replacementLog = LogThrottle(interval: .seconds(10))
    }
    private let state = Mutex(State())

    init(
        function: String, program: FunctionSpec.Program, environment: [String: String], size: Int, logger: Logger,
        metricsFactory: any MetricsFactory
    ) {
        self.function = function
        self.program = program
        self.environment = environment
        self.size = size
        self.logger = logger
        replaced = Counter(label: "weir_function_workers_replaced_total", dimensions: [("function", function)], factory: metricsFactory)
    }

    /// An idle worker, or a new one.
    func checkout() throws(SpawnError) -> WorkerProcess {
        let idle = state.withLock { s -> WorkerProcess? in
            s.busy += 1
            return s.idle.popLast()
        }
        var diedIdle = false
        if let idle {
            guard idle.hasExited else { return idle }
            // It died while idle (killed, say): replaced now, without the delay, so the request
            // does not fail for it.
            idle.terminate()
            noteReplaced(idle, "idle worker had exited; replaced")
            diedIdle = true
        }
        let now = monotonicNanos()
        let wait = diedIdle ? 0 : state.withLock { s in s.failures > 0 && now < s.nextStart ? s.nextStart - now : 0 }
        do throws(SpawnError) {
            guard wait == 0 else {
                throw SpawnError(description: "workers of '\(function)' keep failing; the next start is in \(wait / 1_000_000) ms")
            }
            return try start()
        } catch {
            state.withLock { $0.busy -= 1 }
            throw error
        }
    }

    /// Returns a worker after a request: kept if healthy, else stopped and replaced.
    func checkin(_ worker: WorkerProcess) {
        let keep = state.withLock { s -> Bool in
            s.busy -= 1
            guard worker.isAlive, !s.closed else { return false }
            s.idle.append(worker)
            s.failures = 0
            return true
        }
        guard !keep else { return }
        worker.terminate()
        guard !state.withLock({ $0.closed }) else { return }
        let delayed = noteReplaced(worker, "worker replaced")
        // A failing program is started again by the next request, once its delay is over.
        guard !delayed, let fresh = try? start() else { return }
        let stored = state.withLock { s -> Bool in
            guard !s.closed, s.idle.count + s.busy < size else { return false }
            s.idle.append(fresh)
            return true
        }
        if !stored { fresh.terminate() }
    }

    /// Counts and logs (at most every 10 s) a replaced worker, and grows the delay before the
    /// next start; true once starts are delayed (the second failure in a row on).
    @discardableResult
    private func noteReplaced(_ worker: WorkerProcess, _ message: Logger.Message) -> Bool {
        replaced.increment()
        let (delayed, log, suppressed, failures) = state.withLock { s in
            s.failures += 1
            let delay = UInt64(100_000_000) << UInt64(min(s.failures - 1, 9))
            s.nextStart = monotonicNanos() + min(delay, 30_000_000_000)
            let suppressed = s.replacementLog.suppressed()
            return (s.failures > 1, s.replacementLog.allow(), suppressed, s.failures)
        }
        if log {
            logger.warning(
                message,
                metadata: [
                    "function": "\(function)", "pid": "\(worker.pid)", "failures_in_a_row": "\(failures)",
                    "suppressed": "\(suppressed)",
                ])
        }
        return delayed
    }

    /// Stops every idle worker; busy ones are stopped when they come back.
    func shutdown() {
        let idle = state.withLock { s in
            s.closed = true
            defer { s.idle.removeAll() }
            return s.idle
        }
        WorkerProcess.terminate(idle)
    }

    private func start() throws(SpawnError) -> WorkerProcess {
        try WorkerProcess(
            argv: program.command, environment: environment, directory: program.directory, limits: program.limits, function: function,
            logger: logger)
    }
}
