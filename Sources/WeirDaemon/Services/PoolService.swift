import ServiceLifecycle
import WeirActions

/// Runs the action pool's workers; on graceful shutdown it stops taking work and drains the queue.
struct PoolService: Service {
    let pool: ActionPool
    /// Runs once the queue has drained (stops worker processes).
    var afterDrain: @Sendable () async -> Void = {}

    func run() async throws {
        await withGracefulShutdownHandler {
            await pool.run()
        } onGracefulShutdown: {
            pool.finish()
        }
        await afterDrain()
    }
}
