import Logging
import Synchronization
import Testing
import WeirCore
import WeirTestSupport

@testable import WeirMQTT

/// The PUBACK of a QoS 1 message leaves only once the batch's settlement completes: a batch that
/// ends unsettled is never acknowledged, so the broker delivers it again to the same session.
@Suite(.serialized) struct SettledAcknowledgementTests {
    final class Batches: Sendable {
        let received = Mutex<[(events: [Event], settlement: Settlement)]>([])
        var events: [Event] { received.withLock { $0.flatMap(\.events) } }
        var last: Settlement? { received.withLock { $0.last?.settlement } }
    }

    /// A client that leaves every batch pending (one effect begun, not ended) until the test says.
    func holdingClient(_ broker: MosquittoBroker, id: String, batches: Batches, canConnect: @escaping @Sendable () -> Bool = { true })
        throws -> MQTTClient
    {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(port: broker.port, clientID: id, cleanSession: false), subscribeQoS: 1,
            logger: Logger(label: "t"),
            onBatch: { events in
                let settlement = Settlement()
                settlement.begin()
                settlement.seal()
                batches.received.withLock { $0.append((events, settlement)) }
                return settlement
            }, canConnect: canConnect)
        try client.setSubscriptions(["held/#"])
        client.start()
        return client
    }

    @Test func anUnsettledBatchIsNeverAcknowledgedAndComesAgain() async throws {
        let broker = try MosquittoBroker()
        let batches = Batches()
        let allowed = Atomic<Bool>(false)
        let held = try holdingClient(broker, id: "held-1", batches: batches, canConnect: { allowed.load(ordering: .relaxed) })
        defer { held.shutdown() }
        await held.waitUntilReady()
        let pub = try makeClient(broker, id: "pub-held")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        try await pub.publish(topic: "held/a", payload: Array("one".utf8), qos: 1)
        #expect(await eventually { batches.events.count == 1 })
        // The store failed: the connection is dropped with the PUBACK still queued, and stays down.
        batches.last?.end(StoreWriteFailed(reason: "no space"))
        #expect(await eventually { !held.isConnected && held.pausedReason != nil })
        try await Task.sleep(for: .milliseconds(300))  // a paused client must not reconnect by itself
        #expect(!held.isConnected)
        allowed.store(true, ordering: .relaxed)
        #expect(await eventually { batches.events.count == 2 }, "the broker delivered it again")
        #expect(batches.events.map { String(decoding: $0.payload, as: UTF8.self) } == ["one", "one"])
        batches.last?.end()
    }

    @Test func aSettledBatchIsAcknowledgedOnce() async throws {
        let broker = try MosquittoBroker()
        let batches = Batches()
        let client = try holdingClient(broker, id: "held-2", batches: batches)
        await client.waitUntilReady()
        let pub = try makeClient(broker, id: "pub-held-2")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        try await pub.publish(topic: "held/a", payload: Array("one".utf8), qos: 1)
        #expect(await eventually { batches.events.count == 1 })
        batches.last?.end()
        client.shutdown()
        // The same session again: what was acknowledged does not come back; a marker published
        // after it is the first thing the new connection receives.
        try await pub.publish(topic: "held/b", payload: Array("marker".utf8), qos: 1)
        let again = Batches()
        let second = try holdingClient(broker, id: "held-2", batches: again)
        defer { second.shutdown() }
        #expect(await eventually { !again.events.isEmpty })
        again.last?.end()
        #expect(again.events.map { String(decoding: $0.payload, as: UTF8.self) }.first == "marker")
    }
}
