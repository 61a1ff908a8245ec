import FoundationEssentials
import Logging
import WeirEngine
import WeirRocksDB
import WeirStore

/// The one RocksDB under state_dir and what lives on it: the outbox of each upstream, dead
/// letters, the invocation journal, and the store's health watch. (Window and schedule state use
/// the same database, opened by the pipeline and the services.)
struct DaemonStore {
    let db: RocksDB
    let health: StoreHealth
    let deadLetters: DeadLetters
    /// The durable outbox of each upstream.
    let outboxes: [String: Outbox]
    let journal: PoolJournal

    /// Stops the committer threads and closes the database, for a composition that failed after
    /// the store was opened: the outbox and journal threads start in their constructors, and
    /// nothing else would own them. (A running daemon closes the store through `StoreService`.)
    func closeAfterFailedStart() {
        for outbox in outboxes.values { outbox.close() }
        journal.journal.close()
        db.close()
    }
}

/// Opens the store; a damaged one is not touched and the error says how to repair it.
func buildStore(config: WeirConfig, metrics: DaemonMetrics, logger: Logger) throws -> DaemonStore {
    // One RocksDB under state_dir holds the outboxes, dead letters and window state.
    let storePath = config.stateDir + "/store"
    try FileManager.default.createDirectory(atPath: storePath, withIntermediateDirectories: true)
    let db: RocksDB
    do {
        db = try RocksDB(path: storePath)
    } catch let error as RocksDBError where error.message.contains("Corruption") {
        throw ConfigurationError(
            description: """
                the store at \(storePath) is damaged: \(error.message)
                Nothing was deleted. Back up \(storePath), then run `weir store repair --config \(config.path)`: \
                it keeps every readable record.
                """)
    }
    let health = StoreHealth(db: db, logger: logger, factory: metrics.factory)
    var outboxes: [String: Outbox] = [:]
    do {
        let letters = try DeadLetters(db: db, limits: config.deadLetters, metricsFactory: metrics.factory, logger: logger)
        for upstream in config.upstreams {
            outboxes[upstream.name] = try Outbox(
                db: db, name: upstream.name, commitInterval: config.commitInterval, limits: upstream.queue, logger: logger,
                metricsFactory: metrics.factory)
        }
        let journal = PoolJournal(journal: try InvocationJournal(db: db, logger: logger))
        return DaemonStore(db: db, health: health, deadLetters: letters, outboxes: outboxes, journal: journal)
    } catch {
        // Whatever started its committer thread already is stopped before the error leaves.
        for outbox in outboxes.values { outbox.close() }
        db.close()
        throw error
    }
}
