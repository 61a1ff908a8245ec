import Foundation
import Testing
import WeirCore
import WeirMQTT
import WeirTestSupport

/// The durability tests' device load: `seq`-numbered QoS 1 events on `dev/d<seq % 10>/tele`, a
/// little over `perSecond` so the rate holds on a loaded machine.
func devicePublisher(_ broker: MosquittoBroker, perSecond: Int, padding: Int = 0) async throws -> PacedLoad {
    let pad = padding > 0 ? #","pad":"\#(String(repeating: "x", count: padding))""# : ""
    return try await PacedLoad(
        port: broker.port, clientID: "pub-\(UUID().uuidString.prefix(8))", perSecond: perSecond, overshoot: 1.1,
        topic: { "dev/d\($0 % 10)/tele" }, payload: { Array(#"{"device":"d\#($0 % 10)","seq":\#($0)\#(pad)}"#.utf8) })
}

@Suite(.serialized) struct KillLoopTests {
    /// kill -9 of the real binary 20 times at random moments while devices publish 1,500 events/s
    /// at QoS 1; the cloud is reachable for the first half of the kills and down for the second.
    /// Afterwards every event the broker accepted reaches the cloud, is counted in its window,
    /// and (for every 50th) has run its function: nothing acknowledged to the broker is lost.
    @Test func twentyKillsUnderLoadLoseNothing() async throws {
        let local = try MosquittoBroker()
        let cloudPort = try freeLoopbackPort()
        let cloud = try MosquittoBroker(port: cloudPort)
        let cloudInbox = try await Recorder(broker: cloud, filters: ["weir/#"], persistentID: "cloud-rec-\(UUID().uuidString.prefix(6))")
        let windowInbox = try await Recorder(broker: local, filters: ["agg/#"], persistentID: "agg-rec-\(UUID().uuidString.prefix(6))")
        let dir = try makeTemporaryDirectory(prefix: "weir-killfn")
        let calls = dir.appendingPathComponent("calls.log").path
        let record = try writeScript(#"cat >>"$CALLS"; echo >>"$CALLS""#, in: dir)
        let rules = """
            functions:
              - name: record
                exec: { command: ["\(record)"], timeout: 10s, env: { CALLS: "\(calls)" } }
                concurrency: 4
            rules:
              - name: fwd
                sql: SELECT seq FROM "dev/+/tele"
                actions:
                  - forward: cloud
              - name: win
                sql: SELECT device, collect(seq, 10000) AS seqs FROM "dev/+/tele" GROUP BY device, TUMBLING(1s)
                actions:
                  - publish: { topic: "agg/${device}", qos: 1 }
              - name: sampled
                sql: SELECT seq FROM "dev/+/tele" WHERE seq % 50 = 0
                actions:
                  - call: record
            """
        let fixture = try BinaryFixture(
            name: "killloop", brokerPort: local.port, rules: ["all.yaml": rules],
            extra: """
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloudPort) }
                    batch: { max_events: 500, max_delay: 20ms }
                """)
        var load: PacedLoad?
        var generator = SystemRandomNumberGenerator()
        for kill in 0..<20 {
            if kill == 10 { cloud.stop() }
            let weir = try fixture.run(log: "weir-\(kill).log")
            #expect(await eventually(timeout: .seconds(20)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
            // Publishing starts once Weir's persistent session has subscribed: before that the
            // broker would keep nothing for it.
            if load == nil { load = try await devicePublisher(local, perSecond: 1500) }
            // A random moment: this is the fault being injected, not a wait for a condition.
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...1200, using: &generator)))
            weir.stop(signal: SIGKILL)
        }
        let rate = await load?.stop() ?? 0
        let accepted = load?.acceptedSeqs ?? []
        #expect(rate >= 1_500, "offered \(Int(rate)) events/s")
        #expect(accepted.count > 15_000, "the load ran: \(accepted.count) events accepted by the broker")

        try cloud.start()
        let weir = try fixture.run(log: "weir-final.log")
        defer { weir.stop() }
        var forwarded = Set<Int>()
        let allForwarded = await eventually(timeout: .seconds(120)) {
            forwarded = Set(cloudInbox.payloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { $0["data"]?["seq"]?.intValue })
            return forwarded.isSuperset(of: accepted)
        }
        #expect(allForwarded, "lost on the way to the cloud: \(accepted.subtracting(forwarded).count) of \(accepted.count)")

        var windowed = Set<Int>()
        let allWindowed = await eventually(timeout: .seconds(30)) {
            windowed = Set(
                windowInbox.all.flatMap { row -> [Int] in
                    guard case .array(let seqs)? = (try? JSONParser.parse(row.payload))?["seqs"] else { return [] }
                    return seqs.compactMap(\.intValue)
                })
            return windowed.isSuperset(of: accepted)
        }
        #expect(allWindowed, "not counted in any window: \(accepted.subtracting(windowed).count) of \(accepted.count)")

        let sampled = Set(accepted.filter { $0 % 50 == 0 })
        var ran = Set<Int>()
        let allRan = await eventually(timeout: .seconds(60)) {
            let text = (try? String(contentsOfFile: calls, encoding: .utf8)) ?? ""
            ran = Set(text.split(separator: "\n").compactMap { (try? JSONParser.parse(String($0)))?["seq"]?.intValue })
            return ran.isSuperset(of: sampled)
        }
        #expect(allRan, "function inputs never run: \(sampled.subtracting(ran).count) of \(sampled.count)")
    }
}
