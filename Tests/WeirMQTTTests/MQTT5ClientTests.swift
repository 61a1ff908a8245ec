import Foundation
import Logging
import Testing
import WeirCore
import WeirTestSupport

@testable import WeirMQTT

func makeV5Client(
    _ broker: MosquittoBroker, id: String, shareGroup: String? = nil, inbox: Inbox? = nil, filters: Set<String> = []
) throws -> MQTTClient {
    var configuration = MQTTConfiguration(port: broker.port, clientID: id, cleanSession: true, reconnectDelayMin: 1, reconnectDelayMax: 1)
    configuration.protocolVersion = .v5
    configuration.shareGroup = shareGroup
    configuration.maximumPacketSize = 64 * 1024
    var handler: MQTTClient.MessageHandler?
    if let inbox { handler = { inbox.add($0) } }
    let client = try MQTTClient(configuration: configuration, subscribeQoS: 1, logger: Logger(label: "test"), onMessage: handler)
    try client.setSubscriptions(filters)
    client.start()
    return client
}

func mosquittoPubV5(_ broker: MosquittoBroker, _ topic: String, _ payload: String, _ properties: [[String]]) throws -> Int32? {
    try mosquittoPubV5(port: broker.port, topic: topic, payload: payload, properties: properties)
}

@Suite(.serialized) struct MQTT5ClientTests {
    @Test func aV5ClientCopiesUserPropertiesContentTypeAndExpiry() async throws {
        let broker = try MosquittoBroker()
        let inbox = Inbox()
        let sub = try makeV5Client(broker, id: "v5-sub", inbox: inbox, filters: ["p/#"])
        defer { sub.shutdown() }
        await sub.waitUntilReady()
        let properties = [
            ["user-property", "site", "north"], ["user-property", "site", "south"], ["content-type", "application/json"],
            ["message-expiry-interval", "60"], ["payload-format-indicator", "1"],
        ]
        #expect(try mosquittoPubV5(broker, "p/1", #"{"a":1}"#, properties) == 0)
        #expect(try mosquittoPubV5(broker, "p/2", #"{"a":2}"#, []) == 0)
        #expect(await eventually { inbox.count == 2 })
        let events = inbox.events.withLock { $0 }.sorted { $0.topic < $1.topic }
        let first = try #require(events.first?.properties)
        #expect(first.user == [UserProperty(name: "site", value: "north"), UserProperty(name: "site", value: "south")])
        #expect(first.contentType == "application/json")
        #expect(first.payloadIsUTF8)
        // The broker forwards the seconds left: 60, or 59 if a second turned meanwhile.
        #expect((59...60).contains(first.expirySeconds ?? 0))
        #expect(events.last?.properties == nil, "a message without properties carries none")
    }

    @Test func aPUBACKFailureCodeFailsThePublishUnder5AndNotUnder311() async throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-acl")
        let acl = dir.appendingPathComponent("acl").path
        try "topic readwrite allowed/#\n".write(toFile: acl, atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker(listenerOptions: "acl_file \(acl)")
        let v5 = try makeV5Client(broker, id: "v5-pub")
        defer { v5.shutdown() }
        await v5.waitUntilReady()
        try await v5.publish(topic: "allowed/x", payload: [1], qos: 1)
        do {
            try await v5.publish(topic: "denied/x", payload: [1], qos: 1)
            Issue.record("the broker's refusal was taken as delivered")
        } catch let refused as MQTTPublishRefused {
            #expect(refused.reasonCode == 0x87)
            #expect(refused.description == "PUBACK 0x87 Not authorized")
            #expect(!refused.isRetryable)
        }
        // 3.1.1 has no way to refuse: the same publish "succeeds" (why upstreams want 5).
        let v311 = try makeClient(broker, id: "v311-pub")
        defer { v311.shutdown() }
        await v311.waitUntilReady()
        try await v311.publish(topic: "denied/x", payload: [1], qos: 1)
    }

    @Test func aPersistentV5SessionOutlivesTheConnectionOnlyWithASessionExpiry() async throws {
        let broker = try MosquittoBroker()
        for (expiry, kept) in [(UInt32(3600), true), (0, false)] {
            let id = "v5-session-\(expiry)"
            var configuration = MQTTConfiguration(port: broker.port, clientID: id, cleanSession: false)
            configuration.protocolVersion = .v5
            configuration.sessionExpirySeconds = expiry
            let inbox = Inbox()
            let first = try MQTTClient(
                configuration: configuration, subscribeQoS: 1, logger: Logger(label: "t"), onMessage: { inbox.add($0) })
            try first.setSubscriptions(["away/\(expiry)"])
            first.start()
            await first.waitUntilReady()
            first.shutdown()
            let pub = try makeClient(broker, id: "pub-session-\(expiry)")
            defer { pub.shutdown() }
            await pub.waitUntilReady()
            for n in 0..<3 { try await pub.publish(topic: "away/\(expiry)", payload: [UInt8(n)], qos: 1) }
            let again = try MQTTClient(
                configuration: configuration, subscribeQoS: 1, logger: Logger(label: "t"), onMessage: { inbox.add($0) })
            defer { again.shutdown() }
            // Subscribed to a marker only: what was queued while away can come from the session
            // alone, and it comes before the marker published after the reconnect.
            try again.setSubscriptions(["marker/\(expiry)"])
            again.start()
            await again.waitUntilReady()
            try await pub.publish(topic: "marker/\(expiry)", payload: [], qos: 1)
            #expect(await eventually { inbox.topics.contains("marker/\(expiry)") })
            let queued = inbox.topics.filter { $0 == "away/\(expiry)" }.count
            #expect(
                queued == (kept ? 3 : 0), kept ? "the broker kept the session and its queue" : "expiry 0 ends the session at the disconnect"
            )
        }
    }

    @Test func theBrokerSendsNothingLargerThanTheMaximumPacketSize() async throws {
        let broker = try MosquittoBroker()
        let inbox = Inbox()
        let sub = try makeV5Client(broker, id: "v5-size", inbox: inbox, filters: ["size/#"])  // 64 KiB
        defer { sub.shutdown() }
        await sub.waitUntilReady()
        let pub = try makeClient(broker, id: "pub-size")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        try await pub.publish(topic: "size/big", payload: [UInt8](repeating: 0x61, count: 100_000), qos: 1)
        try await pub.publish(topic: "size/small", payload: [0x61], qos: 1)
        // In order on one session: once the small one is in, the big one would have been too.
        #expect(await eventually { inbox.topics.contains("size/small") })
        #expect(inbox.topics == ["size/small"], "the broker dropped the message over the advertised size")
        #expect(sub.isConnected, "without closing the connection")
    }

    @Test func reasonCodesSplitIntoRetryableAndFinal() {
        for code: Int32 in [0x80, 0x83, 0x91, 0x97] { #expect(MQTTPublishRefused(reasonCode: code).isRetryable, "\(code)") }
        for code: Int32 in [0x87, 0x90, 0x99, 0x84] { #expect(!MQTTPublishRefused(reasonCode: code).isRetryable, "\(code)") }
        #expect(MQTTPublishRefused(reasonCode: 0x97).description == "PUBACK 0x97 Quota exceeded")
        #expect(MQTTPublishRefused(reasonCode: 0x90).description == "PUBACK 0x90 Topic Name invalid")
    }

    @Test func membersOfAShareGroupSplitTheMessages() async throws {
        let broker = try MosquittoBroker()
        let (a, b) = (Inbox(), Inbox())
        let first = try makeV5Client(broker, id: "share-a", shareGroup: "g", inbox: a, filters: ["s/#"])
        defer { first.shutdown() }
        let second = try makeV5Client(broker, id: "share-b", shareGroup: "g", inbox: b, filters: ["s/#"])
        defer { second.shutdown() }
        await first.waitUntilReady()
        await second.waitUntilReady()
        #expect(first.subscriptions == ["s/#"], "the plain filters; the group is added on the wire")
        let pub = try makeClient(broker, id: "share-pub")
        defer { pub.shutdown() }
        await pub.waitUntilReady()
        for n in 0..<100 { try await pub.publish(topic: "s/\(n)", payload: [], qos: 1) }
        #expect(await eventually { a.count + b.count == 100 })
        #expect(a.count >= 20 && b.count >= 20, "each member got a share: \(a.count) and \(b.count)")
        #expect(Set(a.topics).isDisjoint(with: b.topics))
    }
}
