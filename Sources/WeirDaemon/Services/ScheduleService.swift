import ServiceLifecycle
import WeirEngine

/// Runs the `Scheduler` every interval: scheduled rules (`schedule:` instead of `sql:`) run when
/// they are due.
struct ScheduleService: Service {
    let scheduler: Scheduler
    let interval: Duration

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await scheduler.tick()
            // A stop ends the wait at once instead of after up to a whole interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
        // This service stops after the pool has drained: every finished run has queued its
        // record; wait for those writes before the store closes.
        await scheduler.flush()
    }
}
