import Logging
import Metrics
import Synchronization
import WeirCore
import WeirRocksDB

/// Whether the store accepts writes, and getting it back when it does not.
///
/// After a failed write (no space, an I/O error) the RocksDB wrapper refuses writes until
/// `resume()` succeeds; meanwhile ingest stops acknowledging and reading (the broker's persistent
/// session holds new events), and every row already accepted stays stored. This checks once a
/// second, tries to resume, and reports in `weir_store_writable`, `/healthz` and one log line per
/// 10 s at most.
final class StoreHealth: Sendable {
    let db: RocksDB
    let logger: Logger
    private let writable: Gauge
    private let faults: Counter
    private let logThrottle = SharedLogThrottle(interval: .seconds(10))
    /// When resuming was last tried: a resume reopens the database, so not every second.
    private let lastResume = Mutex<UInt64>(0)
    let resumeInterval: UInt64 = 2_000_000_000
    private let wasWritable = Atomic<Bool>(true)

    init(db: RocksDB, logger: Logger, factory: any MetricsFactory) {
        self.db = db
        self.logger = logger
        writable = Gauge(label: "weir_store_writable", factory: factory)
        faults = Counter(label: "weir_store_write_faults_total", factory: factory)
        writable.record(1)
    }

    /// Nil while writable; otherwise what went wrong, in words for `/healthz` ("no space").
    var problem: String? { db.isWritable ? nil : (db.writeFailure?.reason ?? "not writable") }

    /// One check: reports the state and, when writes fail, tries to resume them. Blocks (the
    /// resume reopens files): call it from a dedicated thread.
    func check() {
        guard !db.isWritable else {
            if !wasWritable.exchange(true, ordering: .relaxed) {
                writable.record(1)
                logger.notice("store writable again: ingest resumes")
            }
            return
        }
        if wasWritable.exchange(false, ordering: .relaxed) {
            writable.record(0)
            faults.increment()
        }
        let now = monotonicNanos()
        let due = lastResume.withLock { last in
            guard now - last >= resumeInterval else { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            try db.resume()
        } catch {
            if logThrottle.allow(now: now) {
                logger.error(
                    "store not writable: not acknowledging or reading new events until it is (the broker keeps them)",
                    metadata: ["reason": "\(problem ?? "")", "path": "\(db.path)", "error": "\(error)"])
            }
            return
        }
        check()
    }
}
