import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRules

/// The long-lived processes of one `mode: worker` function: at most `size`, each serving one
/// request at a time (the function's concurrency permits guarantee one is free at checkout).
/// A worker that died, hung or broke the protocol is stopped at checkin and a replacement started
/// at once, so the next request does not pay its start. Calls block: make them off the pool.
final class WorkerGroup: Sendable {
    let function: String
    let program: FunctionSpec.Program
    let environment: [String: String]
    let size: Int
    let logger: Logger
    let replaced: Counter
    private let state = Mutex<(idle: [WorkerProcess], busy: Int, closed: Bool)>(([], 0, false))

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
        if let idle {
            guard idle.hasExited else { return idle }
            // It died while idle: replaced now, so the request does not fail for it.
            idle.terminate()
            replaced.increment()
            logger.warning("idle worker had exited; replaced", metadata: ["function": "\(function)", "pid": "\(idle.pid)"])
        }
        do {
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
            return true
        }
        guard !keep else { return }
        worker.terminate()
        guard !state.withLock({ $0.closed }) else { return }
        replaced.increment()
        logger.warning("worker replaced", metadata: ["function": "\(function)", "pid": "\(worker.pid)"])
        if let fresh = try? start() {
            let stored = state.withLock { s -> Bool in
                guard !s.closed, s.idle.count + s.busy < size else { return false }
                s.idle.append(fresh)
                return true
            }
            if !stored { fresh.terminate() }
        }
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
        try WorkerProcess(argv: program.command, environment: environment, directory: program.directory, function: function, logger: logger)
    }
}
