import Glibc
import WeirCore

/// What one run of an exec function produced.
public struct ExecResult: Sendable, Equatable {
    /// Exit code, or 128 + signal number when a signal ended it.
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var timedOut: Bool
}

/// Runs a program without a shell: `argv` as given (the program found on PATH when not a path),
/// `stdin` written to it, stdout and stderr collected (each bounded by `maxOutput`), in its own
/// process group. On the timeout, and after it exits, the whole group is killed with SIGKILL, so
/// no child it started outlives the invocation. Blocks the calling thread: call it off the
/// cooperative pool.
public enum ExecProcess {
    public static func run(
        argv: [String], environment: [String: String], directory: String?, stdin: [UInt8], timeout: Duration, maxOutput: Int = 1 << 20
    ) throws(SpawnError) -> ExecResult {
        let child = try spawn(argv: argv, environment: environment, directory: directory)
        return pump(
            pid: child.pid, stdinFD: child.stdin, stdoutFD: child.stdout, stderrFD: child.stderr, stdin: stdin, timeout: timeout,
            maxOutput: maxOutput)
    }

    /// A started program: its pid (also its process group) and our ends of its pipes.
    struct Spawned {
        var pid: pid_t
        var stdin: Int32
        var stdout: Int32
        var stderr: Int32
    }

    /// Starts `argv` in its own process group with pipes for stdin, stdout and stderr.
    static func spawn(argv: [String], environment: [String: String], directory: String?) throws(SpawnError) -> Spawned {
        _ = ignoreBrokenPipes
        guard let program = argv.first else { throw SpawnError(description: "empty command") }
        if directory != nil, Self.addChdir == nil { throw SpawnError(description: "working directory not supported by this C library") }
        var created: [Int32] = []
        func makePipe() throws(SpawnError) -> [Int32] {
            var ends: [Int32] = [0, 0]
            guard Self.pipeCloseOnExec(&ends) == 0 else {
                let reason = String(cString: strerror(errno))
                for fd in created { close(fd) }
                throw SpawnError(description: "pipe failed: \(reason)")
            }
            created += ends
            return ends
        }
        let input = try makePipe()
        let output = try makePipe()
        let errors = try makePipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        if let directory, let addChdir = Self.addChdir { _ = addChdir(&actions, directory) }
        let args = argv.map { strdup($0) } + [nil]
        defer { for p in args { free(p) } }
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in envp { free(p) } }
        guard let path = resolve(program, searchPath: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") else {
            for fd in input + output + errors { close(fd) }
            throw SpawnError(description: "cannot start \(program): not found or not executable")
        }
        // Its own process group: a timeout kills all of it.
        let (rc, pid) = spawnWithCleanSignals(path, argv: args, envp: envp, actions: &actions, newProcessGroup: true)
        close(input[0])
        close(output[1])
        close(errors[1])
        guard rc == 0 else {
            close(input[1])
            close(output[0])
            close(errors[0])
            throw SpawnError(description: "cannot start \(program): \(String(cString: strerror(rc)))")
        }
        return Spawned(pid: pid, stdin: input[1], stdout: output[0], stderr: errors[0])
    }

    /// Writing to a program that exited without reading its input must be an EPIPE error for
    /// that invocation, not a SIGPIPE that ends the daemon. (Children get default handlers back.)
    private static let ignoreBrokenPipes: Void = {
        signal(SIGPIPE, SIG_IGN)
    }()

    /// A pipe whose ends are close-on-exec from the start (`pipe2(O_CLOEXEC)`): with `pipe` then
    /// `fcntl`, a process another thread spawns in between would inherit the ends, and a
    /// long-lived worker would hold them open for its whole life. (The child gets its own ends
    /// through dup2, which clears the flag.)
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    private static let pipe2: Pipe2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: Pipe2.self)
    }()

    private static func pipeCloseOnExec(_ ends: inout [Int32]) -> Int32 {
        if let pipe2 { return ends.withUnsafeMutableBufferPointer { pipe2($0.baseAddress, O_CLOEXEC) } }
        guard pipe(&ends) == 0 else { return -1 }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return 0
    }

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), looked up at run time: Swift's
    /// Glibc module hides it behind _GNU_SOURCE.
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
    private static let addChdir: AddChdir? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()

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

    private static func pump(
        pid: pid_t, stdinFD: Int32, stdoutFD: Int32, stderrFD: Int32, stdin: [UInt8], timeout: Duration, maxOutput: Int
    ) -> ExecResult {
        for fd in [stdinFD, stdoutFD, stderrFD] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var written = 0
        var writeFD: Int32 = stdin.isEmpty ? -1 : stdinFD
        if writeFD < 0 { close(stdinFD) }
        var out: [UInt8] = []
        var err: [UInt8] = []
        var open = (stdout: true, stderr: true)
        var status: Int32 = 0
        var exited = false
        var exitedAt: UInt64 = 0
        var timedOut = false
        let deadline = monotonicNanos() + UInt64(max(0, timeout.milliseconds)) * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while open.stdout || open.stderr || !exited {
            if !exited, waitpid(pid, &status, WNOHANG) == pid {
                exited = true
                exitedAt = monotonicNanos()
                // Whatever it left running in its group goes with it.
                kill(-pid, SIGKILL)
            }
            // Its group is dead, so the pipes close at once, unless something outside the group
            // holds a copy of an end: do not wait for that forever.
            if exited, monotonicNanos() - exitedAt > 1_000_000_000 {
                if open.stdout { close(stdoutFD) }
                if open.stderr { close(stderrFD) }
                break
            }
            if !timedOut && monotonicNanos() >= deadline && !exited {
                timedOut = true
                kill(-pid, SIGKILL)
            }
            var fds: [pollfd] = []
            if writeFD >= 0 { fds.append(pollfd(fd: writeFD, events: Int16(POLLOUT), revents: 0)) }
            if open.stdout { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if open.stderr { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
            if fds.isEmpty {
                if !exited { usleep(1_000) }
                continue
            }
            _ = poll(&fds, nfds_t(fds.count), 10)
            for entry in fds where entry.revents != 0 {
                if entry.fd == writeFD {
                    let n = stdin[written...].withUnsafeBytes { write(writeFD, $0.baseAddress, $0.count) }
                    if n > 0 { written += n }
                    if n < 0 && errno != EAGAIN || written == stdin.count {
                        close(writeFD)
                        writeFD = -1
                    }
                } else {
                    let n = read(entry.fd, &buffer, buffer.count)
                    if n > 0 {
                        if entry.fd == stdoutFD {
                            out += buffer[0..<min(n, max(0, maxOutput - out.count))]
                        } else {
                            err += buffer[0..<min(n, max(0, maxOutput - err.count))]
                        }
                    } else if n == 0 || errno != EAGAIN {
                        close(entry.fd)
                        if entry.fd == stdoutFD { open.stdout = false } else { open.stderr = false }
                    }
                }
            }
        }
        if writeFD >= 0 { close(writeFD) }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ExecResult(status: code, stdout: out, stderr: err, timedOut: timedOut)
    }
}
