import Glibc
import Synchronization

/// Starts a detached OS thread (not a Swift concurrency thread) running `body`.
///
/// Used for C libraries' blocking loops (libmosquitto's network loop) so they never occupy the
/// cooperative thread pool.
public func startOSThread(name: String, _ body: @escaping @Sendable () -> Void) {
    precondition(tryStartOSThread(name: name, body), "pthread_create failed")
}

/// The system refused a thread (thread or task limits: systemd's `TasksMax`, `ulimit -u`).
public struct ThreadStartFailed: Error, Sendable, CustomStringConvertible {
    public var name: String
    public init(name: String) { self.name = name }
    public var description: String { "cannot start thread '\(name)': the system refused it (thread or task limits)" }
}

/// Starts a detached OS thread running `body`; false when the system refuses one (thread or
/// task limits), leaving the caller to fail softly.
public func tryStartOSThread(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
    guard let thread = createThread(name: name, body) else { return false }
    pthread_detach(thread)
    return true
}

/// An OS thread that its owner waits for with `join()`: once `join` returns, the thread has ended
/// and released everything its body captured (an object whose `close()` joins its worker thread
/// can then promise that the worker no longer holds it, or the files it has open).
public final class JoinableOSThread: Sendable {
    private let thread: Mutex<pthread_t?>

    public convenience init(name: String, _ body: @escaping @Sendable () -> Void) {
        guard let handle = createThread(name: name, body) else { preconditionFailure("pthread_create failed for \(name)") }
        self.init(handle)
    }

    /// Starts the thread, or returns nil when the system refuses one (thread or task limits).
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) -> JoinableOSThread? {
        createThread(name: name, body).map(JoinableOSThread.init)
    }

    private init(_ handle: pthread_t) {
        thread = Mutex(handle)
    }

    /// Waits for the thread to end. Later calls return at once.
    public func join() {
        guard
            let handle = thread.withLock({ t -> pthread_t? in
                defer { t = nil }
                return t
            })
        else { return }
        pthread_join(handle, nil)
    }
}

/// Creates a thread that names itself `name` and runs `body`; nil when `pthread_create` fails.
private func createThread(name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t? {
    final class Context {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let context = Unmanaged.passRetained(Context(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            nameCurrentThread(context.name)
            context.body()
            return nil
        }, context)
    guard rc == 0 else {
        Unmanaged<Context>.fromOpaque(context).release()
        return nil
    }
    return thread
}

/// Names the calling thread as `top -H`, `ps -L`, perf and /proc show it. Without this a thread
/// inherits its creator's name (a dispatch worker's `oot.default-qos`). Linux keeps 15 bytes.
/// Through /proc: Glibc's Swift module exports neither `pthread_setname_np` nor `prctl`.
func nameCurrentThread(_ name: String) {
    var bytes = Array(name.utf8.prefix(15))
    while !bytes.isEmpty, String(validating: bytes, as: UTF8.self) == nil { bytes.removeLast() }
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
