import Foundation
import Testing
import WeirCore
import WeirTestSupport

@Suite(.serialized) struct CrashTests {
    /// kill -9 of the real binary, repeatedly, while rows are being forwarded into an outbox whose
    /// upstream is down: every row whose `forward` action had completed before a kill is delivered
    /// once the upstream appears (duplicates allowed, checked by event id).
    @Test func killNineLosesNothingThatWasDurablyAccepted() async throws {
        let local = try MosquittoBroker()
        let cloudPort = try freeLoopbackPort()
        let fixture = try BinaryFixture(
            name: "crash", brokerPort: local.port, rules: ["fwd.yaml": forwardRule],
            extra: """
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloudPort) }
                    batch: { max_events: 100, max_delay: 20ms }
                """)
        let admin = fixture.admin
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        func forwarded() -> Int {
            Int(Loopback.httpGet(port: admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, #"weir_actions_run_total{action="forward"}"#) } ?? 0)
        }

        var acceptedBeforeKills = 0
        for round in 0..<3 {
            let weir = try fixture.run(log: "weir-\(round).log")
            #expect(await eventually { Loopback.httpGet(port: admin, path: "/healthz")?.status == 200 })
            let traffic = Task {
                for n in (round * 400)..<(round * 400 + 400) {
                    try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":\#(n)}"#.utf8), qos: 1)
                }
            }
            #expect(await eventually { forwarded() >= 150 })
            // Whatever the counter shows has completed: it is durable. Kill right after reading it.
            let accepted = forwarded()
            weir.stop(signal: SIGKILL)
            try await traffic.value
            acceptedBeforeKills += accepted
        }
        // The upstream appears; a fresh process drains the backlog, including what the broker kept
        // for Weir's persistent session while it was dead.
        let cloud = try MosquittoBroker(port: cloudPort)
        let inbox = try await Recorder(broker: cloud, filters: ["weir/#"])
        let weir = try fixture.run(log: "weir-final.log")
        defer { weir.stop() }
        var ids = Set<Int>()
        let drained = await eventually(timeout: .seconds(30)) {
            ids = Set(inbox.payloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { $0["id"]?.stringValue }.compactMap { Int($0.split(separator: "-").last!) })
            return ids.count >= acceptedBeforeKills
        }
        #expect(drained, "delivered \(ids.count), accepted before the kills \(acceptedBeforeKills)")
        // Sequence numbers are dense per outbox: 1...max with nothing missing.
        #expect(ids == Set(1...(ids.max() ?? 0)))
        #expect(ids.count >= acceptedBeforeKills)
    }
}
