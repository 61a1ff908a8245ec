import Foundation
import Testing
import WeirCore
import WeirMQTT
import WeirTestSupport

/// SIGTERM while batches wait for their fsync (a 300 ms commit interval keeps one pending): after
/// the stop every event the broker accepted is either durable in the outbox or still held by the
/// broker for Weir's session, unacknowledged. So nothing is lost, and nothing was acknowledged
/// that was not durable.
@Suite(.serialized) struct GracefulStopTests {
    @Test func stoppingWithABarrierPendingAcknowledgesOnlyWhatIsDurable() async throws {
        let broker = try MosquittoBroker()
        let cloudPort = try freeLoopbackPort()
        let fixture = try BinaryFixture(
            name: "gstop", brokerPort: broker.port,
            rules: ["fwd.yaml": "name: fwd\nsql: SELECT seq FROM \"dev/+/tele\"\nactions:\n  - forward: cloud\n"],
            extra: """
                commit_interval: 300ms
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloudPort) }
                """)
        let weir = try fixture.run(log: "weir.log")
        #expect(await eventually(timeout: .seconds(20)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let load = try await devicePublisher(broker, perSecond: 1500)
        #expect(await eventually { load.acceptedSeqs.count >= 2000 })
        kill(weir.pid, SIGTERM)
        #expect(await eventually(timeout: .seconds(20)) { weir.hasExited })
        await load.stop()
        let accepted = load.acceptedSeqs

        // What the outbox holds (read-only, as an operator would).
        let peek = try runWeir(
            ["outbox", "peek", "--config", fixture.config.path, "--upstream", "cloud", "-l", "1000000"], in: fixture.dir)
        #expect(peek.status == 0, "\(peek.output.prefix(500))")
        let durable = Set(peek.output.split(separator: "\n").compactMap { (try? JSONParser.parse(String($0)))?["data"]?["seq"]?.intValue })
        // What the broker still holds for Weir's persistent session: drained as that session.
        let held = Recorder.Log()
        let session = try MQTTClient(
            configuration: MQTTConfiguration(port: broker.port, clientID: "weir-gstop", cleanSession: false), logger: .init(label: "drain"),
            onMessage: { event in held.entries.withLock { $0.append((event.topic, String(decoding: event.payload, as: UTF8.self))) } })
        try session.setSubscriptions(["dev/+/tele"])
        session.start()
        defer { session.shutdown() }
        var redelivered = Set<Int>()
        let complete = await eventually(timeout: .seconds(20)) {
            redelivered = Set(held.entries.withLock { $0 }.compactMap { (try? JSONParser.parse($0.payload))?["seq"]?.intValue })
            return durable.union(redelivered).isSuperset(of: accepted)
        }
        #expect(complete, "neither durable nor held by the broker: \(accepted.subtracting(durable).subtracting(redelivered).count)")
        #expect(!durable.isEmpty, "the stop let the pending barrier finish: its rows are in the outbox")
        let log = try String(contentsOf: fixture.dir.appendingPathComponent("weir.log"), encoding: .utf8)
        #expect(log.contains("weir stopped"))
    }
}
