import ServiceLifecycle
import WeirCore
import WeirEngine
import WeirForwarder
import WeirMQTT
import WeirRocksDB
import WeirStore

/// Runs one upstream's connection and forwarder. On shutdown the batch in flight, if any, stays in
/// the outbox (it was not acknowledged) and is sent again on the next start.
struct ForwarderService: Service {
    let upstream: any Upstream
    let forwarder: Forwarder

    func run() async throws {
        upstream.start()
        await withDiscardingTaskGroup { group in
            group.addTask { await forwarder.run() }
            try? await gracefulShutdown()
            group.cancelAll()
            // Fails a send still waiting for its acknowledgement, so the forwarder can return.
            await upstream.shutdown()
        }
    }
}
