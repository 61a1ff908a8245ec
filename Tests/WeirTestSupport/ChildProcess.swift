import Glibc
import Synchronization
import WeirActions
import WeirCore

/// A child process started with `posix_spawn`, with a clean signal mask and default handlers.
///
/// Foundation's `Process` passes on the parent's blocked signals, and test runners block some: a
/// broker started that way ignores SIGTERM. Spawning directly avoids that.
///
/// Used for the processes tests and benchmarks start (brokers, `mosquitto_sub`, `weir` itself), so
/// none of them inherits a blocked SIGTERM.
///
/// Hand-written on `spawnWithCleanSignals` rather than swift-subprocess: callers use it
/// synchronously (init returns with the pid, `stop` and `waitForExit` block, `hasExited` polls,
/// and it lives until deinit, not for one closure), while Subprocess starts a process only
/// inside an `async` closure-scoped `run` and hands its pid to that closure. Bridging would mean
/// blocking a thread (often a cooperative one in async tests) on a task that needs the pool.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let exited = Mutex(false)

    /// Starts `executable` (an absolute path) with `arguments`; stdout and stderr append to `output`.
    ///
    /// `environment` replaces the inherited environment when given.
    public init(_ executable: String, _ arguments: [String], output: String = "/dev/null", environment: [String: String]? = nil)
        throws(SpawnError)
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for p in envp ?? [] { free(p) } }
        let (rc, pid) =
            envp.map { spawnWithCleanSignals(executable, argv: argv, envp: $0, actions: &actions) }
            ?? spawnWithCleanSignals(executable, argv: argv, envp: environ, actions: &actions)
        guard rc == 0 else { throw SpawnError(description: "posix_spawn \(executable) failed: \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Sends `signal` and waits for the process to exit (SIGKILL after `grace` seconds).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, grace: Double = 10) -> Int32? {
        if exited.withLock({ $0 }) { return nil }
        kill(pid, signal)
        let deadline = monotonicNanos() + UInt64(grace * 1e9)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 { break }
            if monotonicNanos() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            usleep(10_000)
        }
        exited.withLock { $0 = true }
        return status
    }

    /// Waits up to `timeout` seconds for the process to exit by itself (then kills it); returns the
    /// raw wait status.
    @discardableResult
    public func waitForExit(timeout: Double) -> Int32? {
        stop(signal: 0, grace: timeout)
    }

    /// Whether the process has exited (reaping it if so).
    public var hasExited: Bool {
        if exited.withLock({ $0 }) { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exited.withLock { $0 = true }
            return true
        }
        return false
    }

    deinit { stop(signal: SIGKILL) }
}
