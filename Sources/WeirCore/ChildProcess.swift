import Glibc
import Synchronization

/// A child process started with `posix_spawn`, with a clean signal mask and default handlers.
///
/// Foundation's `Process` passes on the parent's blocked signals, and test runners block some: a
/// broker started that way ignores SIGTERM. Spawning directly avoids that.
///
/// Used for every process Weir or its tests and benchmarks start (brokers, `mosquitto_sub`, and
/// later exec functions), so none of them inherits a blocked SIGTERM.
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

/// A process could not be started.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// `posix_spawn` with an empty signal mask and every handler back to its default (and, with
/// `newProcessGroup`, the child leading a group of its own, so the whole group can be killed).
/// Returns posix_spawn's result and the pid.
public func spawnWithCleanSignals(
    _ path: String, argv: UnsafePointer<UnsafeMutablePointer<CChar>?>, envp: UnsafePointer<UnsafeMutablePointer<CChar>?>,
    actions: inout posix_spawn_file_actions_t, newProcessGroup: Bool = false
) -> (result: Int32, pid: pid_t) {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attributes, &all)
    var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
    if newProcessGroup {
        posix_spawnattr_setpgroup(&attributes, 0)
        flags |= POSIX_SPAWN_SETPGROUP
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    // Nothing but stdin, stdout and stderr reaches the child: libmosquitto's sockets, the broker
    // connections and the admin listener are not all close-on-exec, and a function must never
    // hold them (nor keep the admin port busy after Weir was killed).
    if let closeFrom = addCloseFrom { _ = closeFrom(&actions, 3) }
    var pid = pid_t()
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    return (rc, pid)
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Glibc's module does
/// not export; nil on an older C library.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()
