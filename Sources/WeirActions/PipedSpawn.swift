import Glibc
import WeirCore
import WeirRules

/// A process could not be started.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Hand-written `posix_spawn` for the processes swift-subprocess cannot run the way Weir needs:
/// `mode: worker` processes (WorkerProcess.swift says what is missing) and the tests' and the
/// bench's children (WeirTestSupport's ChildProcess, synchronous by design). Exec functions do
/// not come here: they run through Subprocess (ExecProcess.swift).
enum PipedChild {
    /// A started program: its pid (also its process group) and our ends of its pipes.
    struct Spawned {
        var pid: pid_t
        var stdin: Int32
        var stdout: Int32
        var stderr: Int32
    }

    /// Starts `argv` in its own process group with pipes for stdin, stdout and stderr.
    static func spawn(
        argv: [String], environment: [String: String], directory: String?, limits: FunctionSpec.ProcessLimits = .init()
    ) throws(SpawnError) -> Spawned {
        _ = ignoringBrokenPipes
        guard let program = argv.first else { throw SpawnError(description: "empty command") }
        if directory != nil, addChdir == nil { throw SpawnError(description: "working directory not supported by this C library") }
        var created: [Int32] = []
        func makePipe() throws(SpawnError) -> [Int32] {
            var ends: [Int32] = [0, 0]
            guard pipeCloseOnExec(&ends) == 0 else {
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
        if let directory, let addChdir { _ = addChdir(&actions, directory) }
        let args = argv.map { strdup($0) } + [nil]
        defer { for p in args { free(p) } }
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in envp { free(p) } }
        guard let path = ExecProcess.resolve(program, searchPath: environment["PATH"] ?? ExecProcess.systemPath) else {
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
        do {
            try ExecProcess.afterSpawn(pid, limits: limits)
        } catch {
            for fd in [input[1], output[0], errors[0]] { close(fd) }
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            throw error
        }
        return Spawned(pid: pid, stdin: input[1], stdout: output[0], stderr: errors[0])
    }

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
}

/// Writing to a program that exited without reading its input must be an EPIPE error for
/// that invocation, not a SIGPIPE that ends the daemon. (Children get default handlers back.)
let ignoringBrokenPipes: Void = {
    signal(SIGPIPE, SIG_IGN)
}()

/// `posix_spawn` with an empty signal mask and every handler back to its default (and, with
/// `newProcessGroup`, the child leading a group of its own, so the whole group can be killed),
/// and nothing but descriptors 0, 1 and 2 inherited. Returns posix_spawn's result and the pid.
///
/// Foundation's `Process` passes on the parent's blocked signals, and test runners block some: a
/// broker started that way ignores SIGTERM. Subprocess does the same resets for exec functions;
/// this is the hand-written twin for workers and for WeirTestSupport's ChildProcess.
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
