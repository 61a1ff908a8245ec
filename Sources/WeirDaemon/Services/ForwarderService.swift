import ServiceLifecycle
import WeirCore
import WeirForwarder
import WeirMQTT
import WeirStore

/// Runs one upstream's connection and forwarder. On shutdown the batch in flight, if any, stays in
/// the outbox (it was not acknowledged) and is sent again on the next start.
struct ForwarderService: Service {
    let client: MQTTClient
    let forwarder: Forwarder

    func run() async throws {
        client.start()
        let client = self.client
        await withDiscardingTaskGroup { group in
            group.addTask { await forwarder.run(isStopping: { false }) }
            try? await gracefulShutdown()
            group.cancelAll()
            // Fails a publish still waiting for its PUBACK, so the forwarder can return.
            startOSThread(name: "weir-up-stop") { client.shutdown() }
        }
    }
}

/// Owns the RocksDB store and the outboxes; closes them (committing what is pending) last.
struct StoreService: Service {
    let outboxes: [String: Outbox]

    func run() async throws {
        try? await gracefulShutdown()
        let outboxes = self.outboxes
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            // close() waits for the committer's last fsync: not on the cooperative pool.
            startOSThread(name: "weir-store-stop") {
                for outbox in outboxes.values { outbox.close() }
                done.resume()
            }
        }
    }
}
