/// Starts a detached OS thread (not a Swift concurrency thread) running `body`.
///
/// Used for C libraries' blocking loops (libmosquitto's network loop) so they never occupy the
/// cooperative thread pool.
public func startOSThread(name: String, _ body: @escaping @Sendable () -> Void) {
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
            context.body()
            return nil
        }, context)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(thread)
}
