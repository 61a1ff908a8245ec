import Glibc
import Logging
import Synchronization
import WeirCore
import WeirRules

/// One long-lived process of a `mode: worker` function, speaking newline-delimited JSON:
/// Weir writes `{"id":N,"row":{...}}` on its stdin, it answers `{"id":N,"output":[...]}` or
/// `{"id":N,"error":"..."}` on one stdout line. Requests go one at a time; the caller holds the
/// worker for the whole exchange. Its stderr lines go to the log.
///
/// A worker that exits, answers out of protocol or misses a deadline is killed with its whole
/// process group and never used again: its group starts a replacement for the next request.
/// Calls block the calling thread: make them off the cooperative pool.
///
/// Spawned by hand (`PipedChild.spawn`, posix_spawn with the same signal reset, closefrom(3) and
/// new process group that swift-subprocess applies to exec functions), not through Subprocess
/// 1.0.2, which lacks what a worker needs:
/// - a process that outlives one call: Subprocess runs a process only for the duration of an
///   `async` `run { execution in ... }` closure, so a worker would need a task parked in that
///   closure for its whole life and every request relayed to it; WorkerGroup's checkout, call and
///   checkin are synchronous calls made from blocking threads (FunctionRunner.offPool);
/// - deadlines on pipe I/O: `StandardInputWriter.write` and the output sequence's `next()` take
///   none, and a hung worker that stops reading must fail its request at the deadline;
/// - reading answers line by line with bytes kept past the line for the next request, without
///   the read ending at the first EOF-like cancellation (Subprocess cancels I/O at exit);
/// - stderr drained for the process's life on a thread of its own, not a task of the run.
final class WorkerProcess: Sendable {
    let pid: pid_t
    private let stdinFD: Int32
    private let stdoutFD: Int32
    /// Bytes read past the last answer line, whether the process is still usable, and whether it
    /// was reaped already.
    private let state = Mutex<(pending: [UInt8], alive: Bool, nextID: Int, reaped: Bool)>(([], true, 1, false))

    init(
        argv: [String], environment: [String: String], directory: String?, limits: FunctionSpec.ProcessLimits = .init(), function: String,
        logger: Logger
    ) throws(SpawnError) {
        let child = try PipedChild.spawn(argv: argv, environment: environment, directory: directory, limits: limits)
        pid = child.pid
        stdinFD = child.stdin
        stdoutFD = child.stdout
        let stderrFD = child.stderr
        let pid = child.pid
        // Non-blocking: a request bigger than the pipe's free space must not block the write past
        // the deadline (a hung worker never reads it); poll waits instead.
        for fd in [child.stdin, child.stdout] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        // Drains stderr for the worker's whole life, so a chatty worker never blocks on a full pipe.
        let drained = tryStartOSThread(name: "weir-worker-err") {
            var line: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(stderrFD, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                for byte in buffer[0..<n] {
                    if byte == 0x0A {
                        logger.notice(
                            "\(String(decoding: line.prefix(500), as: UTF8.self))",
                            metadata: ["function": "\(function)", "stream": "stderr", "pid": "\(pid)"])
                        line.removeAll(keepingCapacity: true)
                    } else if line.count < 4096 {
                        line.append(byte)
                    }
                }
            }
            close(stderrFD)
        }
        guard drained else {
            // No thread to be had (task limits): give the process up rather than the daemon.
            Glibc.kill(-pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            for fd in [child.stdin, child.stdout, stderrFD] { close(fd) }
            throw SpawnError(description: "cannot start a thread for the worker's stderr (task limit?)")
        }
    }

    /// Whether the process has exited on its own (checked without blocking; it is then reaped).
    var hasExited: Bool {
        state.withLock { s in
            if s.reaped { return true }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return false }
            s.reaped = true
            s.alive = false
            return true
        }
    }

    var isAlive: Bool { state.withLock { $0.alive } }

    /// Sends one request and waits for its answer until `timeout`. On any failure but an
    /// `error` answer, the worker is dead afterwards.
    func call(row: JSONObject, timeout: Duration) -> Result<[JSONValue], WorkerFailure> {
        let deadline = monotonicNanos() + UInt64(max(1, timeout.milliseconds)) * 1_000_000
        let id = state.withLock { s -> Int in
            defer { s.nextID += 1 }
            return s.nextID
        }
        let request = JSONWriter.bytes(.object(["id": .int(Int64(id)), "row": .object(row)])) + [0x0A]
        if let failure = write(request, deadline: deadline) { return .failure(kill(failure)) }
        let line: [UInt8]
        switch readLine(deadline: deadline) {
        case .success(let read): line = read
        case .failure(let failure): return .failure(kill(failure))
        }
        guard let answer = try? JSONParser.parse(line), case .object(let fields) = answer else {
            return .failure(kill(.protocolError("answer is not a JSON object: \(String(decoding: line.prefix(120), as: UTF8.self))")))
        }
        guard fields["id"]?.intValue == id else {
            return .failure(kill(.protocolError("answer for id \(fields["id"].map { "\($0)" } ?? "none"), expected \(id)")))
        }
        if let error = fields["error"], error != .null {
            if case .string(let message) = error { return .failure(.failed(message)) }
            return .failure(.failed("\(error)"))
        }
        switch fields["output"] {
        case nil, .null?: return .success([])
        case .array(let values)?: return .success(values)
        case let value?: return .success([value])
        }
    }

    /// Closes its stdin (a well-behaved worker exits on end of input), gives it `grace` to
    /// go, then kills its process group and reaps it.
    func terminate(grace: Duration = .milliseconds(500)) {
        Self.terminate([self], grace: grace)
    }

    /// Stops several workers with one shared grace period: all inputs are closed first, so
    /// stopping N workers takes `grace`, not N times it.
    static func terminate(_ workers: [WorkerProcess], grace: Duration = .milliseconds(500)) {
        var waiting: [WorkerProcess] = []
        for worker in workers {
            let wasAlive = worker.state.withLock { s in
                defer { s.alive = false }
                return s.alive
            }
            close(worker.stdinFD)
            if wasAlive { waiting.append(worker) }
        }
        let deadline = monotonicNanos() + UInt64(grace.milliseconds) * 1_000_000
        while !waiting.isEmpty && monotonicNanos() < deadline {
            waiting.removeAll { $0.hasExited }
            if !waiting.isEmpty { usleep(5_000) }
        }
        for worker in workers {
            // Its group goes too, whatever it left running.
            Glibc.kill(-worker.pid, SIGKILL)
            let reaped = worker.state.withLock { $0.reaped }
            if !reaped {
                var status: Int32 = 0
                _ = waitpid(worker.pid, &status, 0)
                worker.state.withLock { $0.reaped = true }
            }
            close(worker.stdoutFD)
        }
    }

    /// Marks the worker dead and kills its group now (reaped by `terminate`).
    private func kill(_ failure: WorkerFailure) -> WorkerFailure {
        state.withLock { $0.alive = false }
        Glibc.kill(-pid, SIGKILL)
        return failure
    }

    private func write(_ bytes: [UInt8], deadline: UInt64) -> WorkerFailure? {
        var written = 0
        while written < bytes.count {
            guard wait(for: stdinFD, events: POLLOUT, until: deadline) else { return .timedOut }
            let n = bytes[written...].withUnsafeBytes { Glibc.write(stdinFD, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .exited("its stdin is closed (\(String(cString: strerror(errno))))")
            }
            written += n
        }
        return nil
    }

    private func readLine(deadline: UInt64) -> Result<[UInt8], WorkerFailure> {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let complete: [UInt8]? = state.withLock { s in
                guard let newline = s.pending.firstIndex(of: 0x0A) else { return nil }
                let line = Array(s.pending[..<newline])
                s.pending.removeSubrange(...newline)
                return line
            }
            if let complete { return .success(complete) }
            guard state.withLock({ $0.pending.count }) < 16 << 20 else { return .failure(.protocolError("answer line longer than 16 MiB")) }
            guard wait(for: stdoutFD, events: POLLIN, until: deadline) else { return .failure(.timedOut) }
            let n = read(stdoutFD, &buffer, buffer.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { return .failure(.exited("it exited (end of its stdout)")) }
            state.withLock { $0.pending += buffer[0..<n] }
        }
    }

    /// Polls `fd` until it is ready or the deadline passes.
    private func wait(for fd: Int32, events: Int32, until deadline: UInt64) -> Bool {
        while true {
            let now = monotonicNanos()
            guard now < deadline else { return false }
            var entry = pollfd(fd: fd, events: Int16(events), revents: 0)
            let rc = poll(&entry, 1, Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
            if rc > 0 { return true }
            if rc < 0 && errno != EINTR { return true }  // let the read or write report it
        }
    }
}

/// Why a request to a worker failed.
enum WorkerFailure: Error, Sendable, CustomStringConvertible {
    /// The worker answered with an error: it stays in service.
    case failed(String)
    case timedOut
    case exited(String)
    case protocolError(String)

    var description: String {
        switch self {
        case .failed(let message): return message
        case .timedOut: return "worker timed out; its process group was killed and it is replaced"
        case .exited(let why): return "worker died: \(why); it is replaced"
        case .protocolError(let why): return "worker broke the protocol: \(why); it is replaced"
        }
    }
}
