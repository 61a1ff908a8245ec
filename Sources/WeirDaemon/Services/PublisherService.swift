import ServiceLifecycle
import WeirActions
import WeirCore
import WeirMQTT

/// The local-broker connection that `publish` actions use.
///
/// Separate from the ingest connection so that on shutdown ingest can stop first while queued
/// publishes still go out; this one closes only after the pool has drained.
struct PublisherService: Service {
    let client: MQTTClient

    func run() async throws {
        client.start()
        try? await gracefulShutdown()
        let client = self.client
        // shutdown() joins the network thread: keep that off the cooperative pool.
        await BlockingThreads.shared.run { client.shutdown() }
    }
}

extension MQTTClient: MessagePublisher {
    public func startPublish(topic: String, payload: [UInt8], qos: Int, retain: Bool) throws -> Started {
        let latch = try enqueuePublish(topic: topic, payload: payload, qos: qos, retain: retain)
        // QoS 0 is complete once queued: nothing to wait for, so no task either.
        return qos == 0 ? .done : .pending { try await latch.value }
    }
}
