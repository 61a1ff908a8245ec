import Foundation
import Testing
import WeirCore
import WeirTestSupport

@Suite(.serialized) struct ResilienceTests {
    @Test func brokerRestartReconnectsAndResubscribes() async throws {
        let broker = try MosquittoBroker()
        let weir = try await DaemonHarness(broker: broker, rules: ["overheat.yaml": overheatRule])
        broker.stop()
        #expect(await eventually { weir.metric("weir_mqtt_connected") == 0 })
        try broker.start()
        #expect(
            await eventually(timeout: .seconds(20)) {
                weir.metric("weir_mqtt_reconnects_total") >= 1 && weir.metric("weir_mqtt_connected") == 1
            })
        let alerts = try await Recorder(broker: broker, filters: ["alerts/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"after","temp":99}"#.utf8), qos: 1)
                return alerts.count > 0
            })
        try await weir.stop()
    }

    @Test func qos1EventsPublishedWhileWeirWasDownArriveAfterwards() async throws {
        let broker = try MosquittoBroker()
        let rulesDir = try makeTemporaryDirectory(prefix: "weir-rules")
        var weir: DaemonHarness? = try await DaemonHarness(
            broker: broker, rules: ["overheat.yaml": overheatRule], clientID: "weir-persistent", rulesDir: rulesDir)
        try await weir!.stop()
        weir = nil
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let count = 200
        for i in 0..<count {
            try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d\#(i)","temp":90}"#.utf8), qos: 1)
        }
        let alerts = try await Recorder(broker: broker, filters: ["alerts/#"])
        let again = try await DaemonHarness(broker: broker, rules: [:], clientID: "weir-persistent", rulesDir: rulesDir)
        #expect(await eventually { alerts.count >= count })
        try await Task.sleep(for: .milliseconds(200))
        #expect(Set(alerts.all.map(\.topic)) == Set((0..<count).map { "alerts/s1/d\($0)" }))
        #expect(alerts.count == count)
        try await again.stop()
    }

    @Test func ruleReloadUnderTrafficLosesAndRepeatsNothing() async throws {
        let broker = try MosquittoBroker()
        func rule(_ version: Int) -> String {
            """
            name: relay
            sql: SELECT n, \(version) AS v FROM "load/#"
            actions:
              - publish: { topic: "out/${n}", qos: 1 }
            """
        }
        let weir = try await DaemonHarness(broker: broker, rules: ["relay.yaml": rule(1)])
        let out = try await Recorder(broker: broker, filters: ["out/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let total = 3000
        let traffic = Task {
            for n in 0..<total {
                try await pub.publish(topic: "load/x", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1)
                if n % 100 == 0 { try await Task.sleep(for: .milliseconds(2)) }
            }
        }
        var reloads = 0
        for version in 2...8 {
            try await Task.sleep(for: .milliseconds(60))
            if version == 5 {
                // A broken file mid-traffic: rejected, the previous set keeps running.
                try "name: relay\nsql: SELECT FROM\nactions: []\n".write(
                    to: weir.rulesDir.appendingPathComponent("relay.yaml"), atomically: true, encoding: .utf8)
                #expect(weir.daemon.rules.reload(reason: "test") == false)
            } else {
                try rule(version).write(to: weir.rulesDir.appendingPathComponent("relay.yaml"), atomically: true, encoding: .utf8)
                #expect(weir.daemon.rules.reload(reason: "test"))
                reloads += 1
            }
        }
        try await traffic.value
        #expect(await eventually(timeout: .seconds(20)) { out.count >= total })
        try await Task.sleep(for: .milliseconds(300))
        let numbers = out.all.map { Int($0.topic.dropFirst(4))! }
        #expect(numbers.count == total, "each event produced exactly one output")
        #expect(Set(numbers) == Set(0..<total))
        #expect(weir.metric(#"weir_rule_reloads_total{result="failed"}"#) >= 1)
        #expect(weir.metric(#"weir_rule_reloads_total{result="ok"}"#) >= Double(reloads))
        try await weir.stop()
    }

    @Test func rulesDirectoryChangesAreWatched() async throws {
        let broker = try MosquittoBroker()
        let weir = try await DaemonHarness(broker: broker, rules: ["overheat.yaml": overheatRule])
        let out = try await Recorder(broker: broker, filters: ["new/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try "name: added\nsql: SELECT * FROM \"fresh/#\"\nactions: [ { publish: { topic: new/x, qos: 1 } } ]\n"
            .write(to: weir.rulesDir.appendingPathComponent("added.yaml"), atomically: true, encoding: .utf8)
        #expect(await eventually { weir.daemon.rules.current.rules.count == 2 })
        // Subscriptions follow: the new filter now delivers.
        #expect(
            try await eventually {
                try await pub.publish(topic: "fresh/1", payload: Array("{}".utf8), qos: 1)
                return out.count > 0
            })
        try await weir.stop()
    }

    @Test func gracefulStopDrainsQueuedWork() async throws {
        let broker = try MosquittoBroker()
        let rule = """
            name: relay
            sql: SELECT n FROM "load/#"
            actions:
              - publish: { topic: "out/${n}", qos: 1 }
            """
        let weir = try await DaemonHarness(
            broker: broker, rules: ["relay.yaml": rule], extraConfig: "pool: { max_concurrency: 1, max_queued: 5000 }")
        let out = try await Recorder(broker: broker, filters: ["out/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let total = 500
        for n in 0..<total { try await pub.publish(topic: "load/x", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually { weir.metric("weir_events_in_total") == Double(total) })
        try await weir.stop()
        #expect(await eventually { out.count == total })
    }
}
