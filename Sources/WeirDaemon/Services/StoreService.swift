import ServiceLifecycle
import WeirCore
import WeirEngine
import WeirForwarder
import WeirMQTT
import WeirRocksDB
import WeirStore

/// Owns the RocksDB store and the outboxes; watches that the store accepts writes (resuming it
/// after a fault); on shutdown closes them (committing what is pending) last, then the database,
/// so its directory lock is free as soon as the daemon has stopped.
struct StoreService: Service {
    let db: RocksDB
    let outboxes: [String: Outbox]
    let windows: WindowEngine
    let partitions: PartitionEngine
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
        let (db, outboxes, windows, partitions, journal) = (db, outboxes, windows, partitions, journal)
        // close() waits for the committer's last fsync: not on the cooperative pool.
        await blocking.run {
            for outbox in outboxes.values { outbox.close() }
            windows.close()
            partitions.close()
            journal.close()
            db.close()
        }
    }
}
