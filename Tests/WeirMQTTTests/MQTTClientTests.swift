import Logging
import Synchronization
import Testing
import WeirCore
import WeirTestSupport

@testable import WeirMQTT

/// Collects received events from the network thread.
final class Inbox: Sendable {
    let events = Mutex<[Event]>([])
    func add(_ event: Event) { events.withLock { $0.append(event) } }
    var count: Int { events.withLock { $0.count } }
    var topics: [String] { events.withLock { $0.map(\.topic) } }
}

func makeClient(_ broker: MosquittoBroker, id: String, clean: Bool = true, inbox: Inbox? = nil, filters: Set<String> = []) throws
    -> MQTTClient
{
    var handler: MQTTClient.MessageHandler?
    if let inbox { handler = { inbox.add($0) } }
    let client = try MQTTClient(
        configuration: MQTTConfiguration(port: broker.port, clientID: id, cleanSession: clean, reconnectDelayMin: 1, reconnectDelayMax: 1),
        subscribeQoS: 1, logger: Logger(label: "test"), onMessage: handler)
    try client.setSubscriptions(filters)
    client.start()
    return client
}

@Suite(.serialized) struct MQTTClientTests {
    @Test func subscribesAndReceivesWithWildcards() async throws {
        let broker = try MosquittoBroker()
        let inbox = Inbox()
        let sub = try makeClient(broker, id: "sub-1", inbox: inbox, filters: ["sensors/+/telemetry"])
        defer { sub.shutdown() }
        await sub.waitUntilReady()
        #expect(sub.isConnected)
        let pub = try makeClient(broker, id: "pub-1")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        try await pub.publish(topic: "sensors/a/telemetry", payload: Array(#"{"t":1}"#.utf8), qos: 1)
        try await pub.publish(topic: "sensors/a/status", payload: [], qos: 1)
        try await pub.publish(topic: "sensors/b/telemetry", payload: Array("x".utf8), qos: 1)
        #expect(await eventually { inbox.count == 2 })
        try await Task.sleep(for: .milliseconds(100))
        #expect(inbox.topics == ["sensors/a/telemetry", "sensors/b/telemetry"])
        #expect(inbox.events.withLock { $0[0].payload } == Array(#"{"t":1}"#.utf8))
        #expect(inbox.events.withLock { $0[0].qos } == 1)
    }

    @Test func changingSubscriptionsFollowsTheRuleSet() async throws {
        let broker = try MosquittoBroker()
        let inbox = Inbox()
        let sub = try makeClient(broker, id: "sub-2", inbox: inbox, filters: ["a/#"])
        defer { sub.shutdown() }
        await sub.waitUntilReady()
        let pub = try makeClient(broker, id: "pub-2")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        try sub.setSubscriptions(["b/#"])
        // Subscription changes are asynchronous at the broker; wait until b/ flows.
        #expect(
            try await eventually {
                try await pub.publish(topic: "b/1", payload: [], qos: 1)
                return inbox.topics.contains("b/1")
            })
        let before = inbox.count
        try await pub.publish(topic: "a/1", payload: [], qos: 1)
        try await pub.publish(topic: "b/2", payload: [], qos: 1)
        #expect(await eventually { inbox.topics.contains("b/2") })
        #expect(!inbox.topics.dropFirst(before).contains("a/1"))
    }

    @Test func persistentSessionReceivesWhatWasPublishedWhileAway() async throws {
        let broker = try MosquittoBroker()
        let inbox = Inbox()
        var sub: MQTTClient? = try makeClient(broker, id: "persistent-1", clean: false, inbox: inbox, filters: ["q/#"])
        await sub!.waitUntilReady()
        sub!.shutdown()
        sub = nil
        let pub = try makeClient(broker, id: "pub-3")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        for i in 0..<20 { try await pub.publish(topic: "q/\(i)", payload: [], qos: 1) }
        let again = try makeClient(broker, id: "persistent-1", clean: false, inbox: inbox, filters: ["q/#"])
        defer { again.shutdown() }
        #expect(await eventually { inbox.count == 20 })
        #expect(Set(inbox.topics) == Set((0..<20).map { "q/\($0)" }))
    }

    @Test func reconnectsAndResubscribesAfterBrokerRestart() async throws {
        let broker = try MosquittoBroker()
        let inbox = Inbox()
        let sub = try makeClient(broker, id: "restart-1", clean: false, inbox: inbox, filters: ["r/#"])
        defer { sub.shutdown() }
        await sub.waitUntilReady()
        broker.stop()
        #expect(await eventually { !sub.isConnected })
        try broker.start()
        #expect(await eventually(timeout: .seconds(15)) { sub.isConnected })
        #expect(sub.connectCount >= 2)
        let pub = try makeClient(broker, id: "pub-4")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        #expect(
            try await eventually {
                try await pub.publish(topic: "r/1", payload: [], qos: 1)
                return inbox.topics.contains("r/1")
            })
    }

    @Test func blockingHandlerAppliesBackpressureWithoutLoss() async throws {
        let broker = try MosquittoBroker()
        let queue = BoundedQueue<Event>(capacity: 4)
        let sub = try MQTTClient(
            configuration: MQTTConfiguration(port: broker.port, clientID: "bp-1", cleanSession: false),
            logger: Logger(label: "test"), onMessage: { queue.sendBlocking($0) })
        try sub.setSubscriptions(["bp/#"])
        sub.start()
        defer {
            queue.finish()
            sub.shutdown()
        }
        await sub.waitUntilReady()
        let pub = try makeClient(broker, id: "pub-5")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        let total = 500
        let publisher = Task {
            for i in 0..<total { try await pub.publish(topic: "bp/\(i)", payload: Array("\(i)".utf8), qos: 1) }
        }
        // A slow consumer: the queue stays full and the network thread blocks, yet nothing is lost.
        var received: [String] = []
        while received.count < total {
            guard let event = await queue.next() else { break }
            // Buffered elements plus at most the one network thread blocked on a full buffer.
            #expect(queue.count <= queue.capacity + 1)
            received.append(event.topic)
            if received.count % 50 == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        try await publisher.value
        #expect(received == (0..<total).map { "bp/\($0)" })
    }

    @Test func connectFailureIsRetriedUntilTheBrokerAppears() async throws {
        let port = try freeLoopbackPort()
        let failures = Inbox()
        let client = try MQTTClient(
            configuration: MQTTConfiguration(port: port, clientID: "late-1", reconnectDelayMin: 1, reconnectDelayMax: 1),
            logger: Logger(label: "test"),
            onConnection: { change in
                if case .connectFailed = change { failures.add(Event(topic: "failed", payload: [], receivedAt: 0)) }
            })
        client.start()
        defer { client.shutdown() }
        #expect(await eventually { failures.count > 0 })
        let broker = try MosquittoBroker(port: port)
        _ = broker
        #expect(await eventually(timeout: .seconds(15)) { client.isConnected })
    }

    /// Publishes made while the loop sleeps in poll, or while it is busy between two polls (when
    /// they are not signalled), all leave at once: a missed wake-up would cost the poll's 1 s
    /// timeout. Round trips one at a time, then bursts from several tasks at once.
    @Test func publishesFromOtherThreadsLeaveWithoutWaitingForThePollTimeout() async throws {
        let broker = try MosquittoBroker()
        let pub = try makeClient(broker, id: "pub-wake")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        var started = ContinuousClock.now
        for i in 0..<200 { try await pub.publish(topic: "wake/\(i)", payload: Array("x".utf8), qos: 1) }
        #expect(ContinuousClock.now - started < .seconds(30), "200 acknowledged round trips, one at a time")
        started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for i in 0..<250 { try await pub.publish(topic: "wake/\(task)/\(i)", payload: Array("y".utf8), qos: 1) }
                }
            }
            try await group.waitForAll()
        }
        #expect(ContinuousClock.now - started < .seconds(30), "1,000 publishes from 4 tasks, each awaited")
    }

    /// A payload over `maxPayloadBytes` is not copied out of libmosquitto: the event arrives
    /// empty, with the size it had; smaller ones arrive whole.
    @Test func anOversizedPayloadIsNotCopied() async throws {
        let broker = try MosquittoBroker()
        let inbox = Inbox()
        var configuration = MQTTConfiguration(port: broker.port, clientID: "sub-big", cleanSession: true)
        configuration.maxPayloadBytes = 1024
        let sub = try MQTTClient(configuration: configuration, subscribeQoS: 1, logger: Logger(label: "test"), onMessage: { inbox.add($0) })
        try sub.setSubscriptions(["big/#"])
        sub.start()
        defer { sub.shutdown() }
        await sub.waitUntilReady()
        let pub = try makeClient(broker, id: "pub-big")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        try await pub.publish(topic: "big/a", payload: Array(repeating: 0x41, count: 5 << 20), qos: 1)
        try await pub.publish(topic: "big/b", payload: Array(repeating: 0x42, count: 1024), qos: 1)
        #expect(await eventually { inbox.count == 2 })
        let events = inbox.events.withLock { $0 }
        #expect(events[0].payload.isEmpty && events[0].droppedPayloadBytes == 5 << 20)
        #expect(events[1].payload.count == 1024 && events[1].droppedPayloadBytes == 0)
    }

    @Test func publishWhileStoppedFailsClearly() async throws {
        let broker = try MosquittoBroker()
        let client = try makeClient(broker, id: "stop-1")
        await client.waitUntilReady()
        client.shutdown()
        await #expect(throws: MQTTClientStopped.self) {
            try await client.publish(topic: "x", payload: [], qos: 1)
        }
    }
}
