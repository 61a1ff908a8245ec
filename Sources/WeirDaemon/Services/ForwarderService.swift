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
            group.addTask { await forwarder.run(isStopping: { false }) }
            try? await gracefulShutdown()
            group.cancelAll()
            // Fails a send still waiting for its acknowledgement, so the forwarder can return.
            await upstream.shutdown()
        }
    }
}

/// Owns the RocksDB store and the outboxes; watches that the store accepts writes (resuming it
/// after a fault); on shutdown closes them (committing what is pending) last, then the database,
/// so its directory lock is free as soon as the daemon has stopped.
struct StoreService: Service {
    let db: RocksDB
    let outboxes: [String: Outbox]
    let windows: WindowEngine
    let journal: InvocationJournal
    let health: StoreHealth
    var interval: Duration = .seconds(1)

    func run() async throws {
        let health = self.health
        let blocking = BlockingThreads(limit: 1, name: "weir-store-health")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if !Task.isShuttingDownGracefully { await blocking.run { health.check() } }
        }
        let (db, outboxes, windows, journal) = (db, outboxes, windows, journal)
        // close() waits for the committer's last fsync: not on the cooperative pool.
        await blocking.run {
            for outbox in outboxes.values { outbox.close() }
            windows.close()
            journal.close()
            db.close()
        }
    }
}
