import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// The gateway's broker restarts: Weir routes again within 2 s, three times in a row, and QoS 1
/// events published before it is back (held by the broker for its persistent session) arrive.
@Suite(.serialized) struct BrokerRestartTests {
    @Test func routesAgainWithinTwoSecondsOfEachRestart() async throws {
        let broker = try MosquittoBroker()
        let rule = "name: relay\nsql: SELECT seq FROM \"in/+\"\nactions:\n  - publish: { topic: \"out/relay\", qos: 1 }\n"
        let fixture = try BinaryFixture(name: "restart", brokerPort: broker.port, rules: ["relay.yaml": rule])
        let weir = try fixture.run(log: "weir.log")
        defer { weir.stop() }
        #expect(await eventually(timeout: .seconds(20)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let inbox = try await Recorder(broker: broker, filters: ["out/#"], persistentID: "relay-rec-\(UUID().uuidString.prefix(6))")
        func relayed() -> Set<Int> { Set(inbox.all.compactMap { (try? JSONParser.parse($0.payload))?["seq"]?.intValue }) }
        var seq = 0
        func weirConnected() -> Bool? {
            guard let body = Loopback.httpGet(port: fixture.admin, path: "/healthz")?.body else { return nil }
            return (try? JSONParser.parse(body))?["mqtt_connected"] == .bool(true)
        }
        for round in 1...3 {
            broker.stop()
            #expect(await eventually { weirConnected() == false }, "round \(round): Weir saw the broker go")
            try broker.start()
            let restarted = ContinuousClock.now
            // Weir's side of "routes again": its ingest connection is back (the test's own clients
            // reconnecting is not Weir's time). Watched while the events below are published.
            let back = Task { () -> ContinuousClock.Instant? in
                await eventually(timeout: .seconds(10)) { weirConnected() == true } ? ContinuousClock.now : nil
            }
            // Published as soon as the broker is back, before Weir has reconnected.
            let pub = try await publisher(broker)
            var sent: [Int] = []
            for _ in 0..<20 {
                seq += 1
                try await pub.publish(topic: "in/dev", payload: Array(#"{"seq":\#(seq)}"#.utf8), qos: 1)
                sent.append(seq)
            }
            let reconnected = try #require(await back.value, "round \(round): Weir reconnected")
            let took = reconnected - restarted
            #expect(took <= .seconds(2), "round \(round): connected again after \(took)")
            let first = sent[0]
            #expect(await eventually(timeout: .seconds(10)) { relayed().contains(first) })
            #expect(await eventually { relayed().isSuperset(of: sent) }, "round \(round): events published while Weir was away arrive")
            pub.shutdown()
        }
    }
}

/// With mosquitto's stock `max_queued_messages` (1000), the broker itself drops QoS 1 messages
/// beyond 1000 for a client that is away, while acknowledging them to the publisher: a loss no
/// client can prevent, which docs/operations.md tells operators to configure away.
@Suite(.serialized) struct StockBrokerLimitTests {
    @Test func theStockQueueLimitDropsWhatPassesItWhileWeirIsAway() async throws {
        let broker = try MosquittoBroker(limits: MosquittoBroker.stockLimits)
        let rule = "name: relay\nsql: SELECT seq FROM \"in/+\"\nactions:\n  - publish: { topic: \"out/relay\", qos: 1 }\n"
        let fixture = try BinaryFixture(name: "stock", brokerPort: broker.port, rules: ["relay.yaml": rule])
        let inbox = try await Recorder(broker: broker, filters: ["out/#"], persistentID: "stock-rec-\(UUID().uuidString.prefix(6))")
        func relayed() -> Set<Int> { Set(inbox.all.compactMap { (try? JSONParser.parse($0.payload))?["seq"]?.intValue }) }
        let first = try fixture.run(log: "first.log")
        #expect(await eventually(timeout: .seconds(20)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        first.stop()
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for seq in 1...1500 { try await pub.publish(topic: "in/dev", payload: Array(#"{"seq":\#(seq)}"#.utf8), qos: 1) }
        let weir = try fixture.run(log: "second.log")
        defer { weir.stop() }
        #expect(await eventually(timeout: .seconds(20)) { relayed().count >= 1000 })
        // Give the broker time to have sent anything else it kept (it kept nothing more).
        try await pub.publish(topic: "in/dev", payload: Array(#"{"seq":9999}"#.utf8), qos: 1)
        #expect(await eventually { relayed().contains(9999) })
        #expect(relayed().count == 1001, "1000 kept for the session while away, then the live one; 500 dropped by the broker")
    }
}
