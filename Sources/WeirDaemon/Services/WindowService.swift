import ServiceLifecycle
import WeirActions
import WeirEngine

/// Ticks the window engine and hands closed windows' rows to the pool. On shutdown it stops
/// ticking; open windows stay saved and resume at the next start.
struct WindowService: Service {
    let engine: WindowEngine
    let pool: ActionPool
    let interval: Duration

    func run() async throws {
        // Cancelled too (a service failed): Task.sleep then returns at once, and must not spin.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await submit(engine.tick(), engine: engine, to: pool)
        }
    }
}
