import FoundationEssentials
import Glibc
import Subprocess
import Synchronization
import SystemPackage
import WeirCore
import WeirRules

/// What one run of an exec function produced.
public struct ExecResult: Sendable, Equatable {
    /// Exit code, or 128 + signal number when a signal ended it.
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var timedOut: Bool
    /// Stdout or stderr went past `maxOutput`: what is past it was read and dropped.
    public var truncated = false
}

/// Runs a program without a shell: `argv` as given (the program found on PATH when not a path),
/// `stdin` written to it, stdout and stderr collected (each bounded by `maxOutput`: truncated,
/// never an error), in its own process group. On the timeout, and after it exits, the whole group
/// is killed with SIGKILL, so no child it started outlives the invocation.
///
/// Spawning and pipe I/O go through swift-subprocess 1.0.2, which already does, on Linux
/// (Sources/Subprocess/Platforms/Subprocess+Spawn.swift and _SubprocessCShims/process_shims.c):
/// - a clean signal state: `_subprocess_spawnattr_reset_signals` sets an empty sigmask and every
///   handler (but SIGKILL/SIGSTOP) to default, with POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
/// - no inherited descriptor but 0, 1 and 2: `_subprocess_spawn_addclosefrom(fileActions, 3)`
///   (glibc's addclosefrom_np; without it Subprocess falls back to fork/exec with closefrom);
/// - a new process group: `platformOptions.processGroupID = 0` becomes POSIX_SPAWN_SETPGROUP;
/// - a child that exits while a grandchild still holds its pipes: its monitor (pidfd in an
///   epoll thread) cancels the pending reads, after draining what the kernel buffered.
///
/// Hand-written here, because Subprocess lacks them: the program's resolution on the function's
/// declared PATH or the system directories (Subprocess's `.name` falls back to Weir's own PATH
/// when the function declares none: `Environment.pathValue()`), killing the whole group (it only
/// signals the pid), the timeout, output that truncates at `maxOutput` (its `.bytes(limit:)`
/// throws `outputLimitExceeded` instead), stdin written without failing on EPIPE, and the
/// 128 + signal status.
public enum ExecProcess {
    /// Where a program is looked up when the function declares no PATH.
    static let systemPath = "/usr/local/bin:/usr/bin:/bin"

    public static func run(
        argv: [String], environment: [String: String], directory: String?, stdin: [UInt8], timeout: Duration, maxOutput: Int = 1 << 20,
        limits: FunctionSpec.ProcessLimits = .init()
    ) async throws(SpawnError) -> ExecResult {
        _ = ignoringBrokenPipes
        guard let program = argv.first else { throw SpawnError(description: "empty command") }
        guard let path = resolve(program, searchPath: environment["PATH"] ?? systemPath) else {
            throw SpawnError(description: "cannot start \(program): not found or not executable")
        }
        var options = PlatformOptions()
        options.processGroupID = 0  // its own group, led by the child: a timeout kills all of it
        // NUL-terminated: Subprocess 1.0.2 passes raw-bytes entries to strdup as they are (its
        // `Environment.Key` initialiser is not public, so the String form is closed to us).
        let variables = environment.sorted { $0.key < $1.key }.map { Array("\($0.key)=\($0.value)".utf8) + [0] }
        do {
            let result = try await Subprocess.run(
                .path(FilePath(path)), arguments: Arguments(executablePathOverride: program, remainingValues: Array(argv.dropFirst())),
                environment: .custom(variables), workingDirectory: directory.map { FilePath($0) }, platformOptions: options,
                input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                let pid = execution.processIdentifier.value
                try afterSpawn(pid, limits: limits)
                let watch = Watch(pid: pid)
                let timer = Task {
                    try await Task.sleep(for: timeout)
                    watch.timeOut()
                }
                async let fed: Void = feed(execution.standardInputWriter, stdin)
                async let out = collect(execution.standardOutput, limit: maxOutput)
                async let err = collect(execution.standardError, limit: maxOutput)
                let (stdout, stderr) = await (out, err)
                // Both streams ended: it exited (Subprocess then ends them even when a grandchild
                // holds a copy), or it closed them and runs on, until it exits or times out.
                await watch.waitForExit()
                // Whatever it left running in its group goes with it. The child is a zombie until
                // Subprocess reaps it after this closure, so its pid (the group id) is not reused.
                kill(-pid, SIGKILL)
                timer.cancel()
                await fed
                return (stdout, stderr, watch.timedOut)
            }
            let (stdout, stderr, timedOut) = result.closureResult
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
            return ExecResult(
                status: status, stdout: stdout.kept, stderr: stderr.kept, timedOut: timedOut,
                truncated: stdout.truncated || stderr.truncated)
        } catch {
            throw SpawnError(description: "cannot start \(program): \(error)")
        }
    }

    /// Runs right after the spawn, with the child's pid, while it runs: Subprocess's Linux options
    /// have no pre-exec hook, so what applies to the child is set from the parent here (it runs its
    /// first instructions before): `preferForOOMKill` and the function's `limits`. A limit that
    /// cannot be set kills the child: the operator asked for it, so it does not run without.
    static func afterSpawn(_ pid: pid_t, limits: FunctionSpec.ProcessLimits) throws(SpawnError) {
        preferForOOMKill(pid)
        if let problem = apply(limits, to: pid) {
            kill(-pid, SIGKILL)
            throw SpawnError(description: "cannot set its limits: \(problem)")
        }
    }

    /// Sets `limits` on `pid` with `prlimit(2)`, soft and hard; nil when all were set, else what failed.
    static func apply(_ limits: FunctionSpec.ProcessLimits, to pid: pid_t) -> String? {
        let wanted: [(resource: __rlimit_resource, name: String, value: Int?)] = [
            (RLIMIT_DATA, "memory", limits.memoryBytes), (RLIMIT_CPU, "cpu_seconds", limits.cpuSeconds),
            (RLIMIT_NOFILE, "open_files", limits.openFiles),
        ]
        for (resource, name, value) in wanted {
            guard let value else { continue }
            guard let prlimit = prlimitFunction else { return "prlimit is not available" }
            var limit = rlimit(rlim_cur: rlim_t(value), rlim_max: rlim_t(value))
            if prlimit(pid, Int32(resource.rawValue), &limit, nil) != 0 {
                return "\(name): \(String(cString: strerror(errno)))"
            }
        }
        return nil
    }

    /// Makes the kernel's OOM killer pick the child before the daemon: its `oom_score_adj` goes
    /// 500 above the daemon's own (at most 1000). Raising it needs no privilege; a failure (the
    /// child already gone) changes nothing.
    static func preferForOOMKill(_ pid: pid_t) {
        let fd = open("/proc/\(pid)/oom_score_adj", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let text = Array("\(min(1000, ownOOMScoreAdjustment + 500))".utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Weir's own `oom_score_adj`, read once (a unit's `OOMScoreAdjust=` sets it before start).
    private static let ownOOMScoreAdjustment =
        (try? String(contentsOfFile: "/proc/self/oom_score_adj", encoding: .utf8)).flatMap {
            Int($0.trimmingWhitespaceAndNewlines())
        } ?? 0

    /// Writes `bytes`, then closes its stdin. A program that exits (or closes stdin) without
    /// reading all of it is no error: what it printed and its status tell.
    private static func feed(_ writer: StandardInputWriter, _ bytes: [UInt8]) async {
        if !bytes.isEmpty { _ = try? await writer.write(bytes) }
        try? await writer.finish()
    }

    /// Everything the stream yields, kept up to `limit` bytes; the rest is read and dropped, so
    /// the program never blocks on a full pipe, and `truncated` says so.
    private static func collect(_ stream: SubprocessOutputSequence, limit: Int) async -> (kept: [UInt8], truncated: Bool) {
        var kept: [UInt8] = []
        var truncated = false
        do {
            for try await buffer in stream {
                buffer.withUnsafeBytes { bytes in
                    if kept.count + bytes.count > limit { truncated = true }
                    if kept.count < limit { kept += bytes.prefix(limit - kept.count) }
                }
            }
        } catch {
            // A read error ends the output; the status still tells how the program ended.
        }
        return (kept, truncated)
    }

    /// The program's path: as given when it contains a '/', else the first executable match in
    /// `searchPath` (the function's declared PATH, or the system directories).
    static func resolve(_ program: String, searchPath: String) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// Whether the child exited, or timed out first, seen without reaping it (Subprocess reaps).
private final class Watch: Sendable {
    let pid: pid_t
    private let state = Mutex<(exited: Bool, timedOut: Bool)>((false, false))

    init(pid: pid_t) { self.pid = pid }

    var timedOut: Bool { state.withLock { $0.timedOut } }

    /// At the deadline: kills the group, unless the child exited already.
    func timeOut() {
        state.withLock { s in
            guard !s.exited else { return }
            s.timedOut = true
            kill(-pid, SIGKILL)
        }
    }

    /// Returns once the child has exited (a zombie, not reaped: `WNOWAIT`).
    func waitForExit() async {
        while true {
            var info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_signo == SIGCHLD {
                state.withLock { $0.exited = true }
                return
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// glibc's `prlimit(2)` wrapper, which Swift's Glibc module leaves out (it is declared only under
/// `_GNU_SOURCE`): looked up once in the already loaded libc.
private typealias PrlimitFunction = @convention(c) (pid_t, Int32, UnsafePointer<rlimit>?, UnsafeMutablePointer<rlimit>?) -> Int32
private let prlimitFunction: PrlimitFunction? = dlsym(nil, "prlimit").map { unsafeBitCast($0, to: PrlimitFunction.self) }
