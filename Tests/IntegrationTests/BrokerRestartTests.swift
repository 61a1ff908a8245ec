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
        for round in 1...3 {
            broker.stop()
            try broker.start()
            let restarted = ContinuousClock.now
            // Published as soon as the broker is back, before Weir has reconnected.
            let pub = try await publisher(broker)
            var sent: [Int] = []
            for _ in 0..<20 {
                seq += 1
                try await pub.publish(topic: "in/dev", payload: Array(#"{"seq":\#(seq)}"#.utf8), qos: 1)
                sent.append(seq)
            }
            let first = sent[0]
            #expect(await eventually(timeout: .seconds(10)) { relayed().contains(first) })
            let took = ContinuousClock.now - restarted
            #expect(took <= .seconds(2), "round \(round): routed again after \(took)")
            #expect(await eventually { relayed().isSuperset(of: sent) }, "round \(round): events published while Weir was away arrive")
            pub.shutdown()
        }
    }
}
