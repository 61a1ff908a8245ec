import Foundation
import Testing
import WeirCore
import WeirTestSupport
import WeirZstd

/// The CloudEvents in a captured upstream batch (zstd-compressed JSON array).
func decodeBatch(_ payload: [UInt8]) throws -> [JSONValue] {
    guard case .array(let events) = try JSONParser.parse(try Zstd.decompress(payload, maxSize: 16 << 20)) else {
        throw TestSupportError("batch is not a JSON array")
    }
    return events
}

let forwardRule = """
    name: fwd
    sql: SELECT device, n FROM "sensors/+/telemetry"
    actions:
      - forward: cloud
    """

func upstreamConfig(_ cloud: MosquittoBroker) -> String {
    """
    upstreams:
      cloud:
        mqtt: { host: 127.0.0.1, port: \(cloud.port), topic: "weir/${gateway_id}/events" }
        batch: { max_events: 50, max_bytes: 256KiB, max_delay: 50ms }
        compression: zstd
    """
}

@Suite(.serialized) struct ForwardingTests {
    @Test func forwardsCompressedCloudEventsBatchesAndSurvivesAnUpstreamOutage() async throws {
        let local = try MosquittoBroker()
        let cloud = try MosquittoBroker()
        let weir = try await DaemonHarness(broker: local, rules: ["fwd.yaml": forwardRule], extraConfig: upstreamConfig(cloud))
        let inbox = try await Recorder(broker: cloud, filters: ["weir/#"], persistentID: "cloud-consumer")
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        let total = 300
        for n in 0..<total {
            if n == 100 {
                cloud.stop()  // the uplink goes away mid-traffic
            }
            if n == 200 {
                // Bring the uplink back only once the forwarder has seen the outage. A batch in flight
                // when the link dropped waits in libmosquitto and is resent on reconnect; otherwise
                // sends fail and back off. Either way nothing may be lost.
                #expect(await eventually { weir.metric(#"weir_upstream_connected{upstream="cloud"}"#) == 0 })
                try cloud.start()
            }
            try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":\#(n)}"#.utf8), qos: 1)
        }
        var ids: [String] = []
        let delivered = await eventually(timeout: .seconds(30)) {
            ids = inbox.payloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { $0["id"]?.stringValue }
            return Set(ids).count == total
        }
        #expect(delivered, "got \(Set(ids).count) of \(total)")
        // In order per upstream: first occurrences are increasing (duplicates are allowed).
        var seen = Set<String>()
        let firstOccurrences = ids.filter { seen.insert($0).inserted }.map { Int($0.split(separator: "-").last!)! }
        #expect(firstOccurrences == firstOccurrences.sorted())
        #expect(inbox.all.allSatisfy { $0.topic == "weir/test/events" })

        let first = try #require(try inbox.payloads.first.map(decodeBatch)?.first)
        #expect(first["specversion"] == "1.0")
        #expect(first["id"] == "test-1")
        #expect(first["source"] == "weir://test/fwd")
        #expect(first["type"] == "fwd")
        #expect(first["subject"] == "sensors/s1/telemetry")
        #expect(first["datacontenttype"] == "application/json")
        #expect(first["data"] == ["device": "d", "n": 0])
        #expect(first["time"]?.stringValue?.hasSuffix("Z") == true)
        #expect(await eventually { weir.daemon.outboxes["cloud"]?.depth == 0 })
        try await weir.stop()
    }

    @Test func backlogSurvivesARestartAndIsDeliveredLater() async throws {
        let local = try MosquittoBroker()
        let cloudPort = try freeLoopbackPort()
        let rulesDir = try makeTemporaryDirectory(prefix: "weir-rules")
        let stateDir = try makeTemporaryDirectory(prefix: "weir-state")
        // The upstream does not exist yet: everything stays in the outbox.
        let cloudConfig = """
            upstreams:
              cloud:
                mqtt: { host: 127.0.0.1, port: \(cloudPort) }
                batch: { max_events: 100, max_delay: 20ms }
            """
        var weir: DaemonHarness? = try await DaemonHarness(
            broker: local, rules: ["fwd.yaml": forwardRule], clientID: "weir-backlog", extraConfig: cloudConfig, rulesDir: rulesDir,
            stateDir: stateDir)
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        for n in 0..<150 { try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually { weir!.daemon.outboxes["cloud"]?.depth == 150 })
        try await weir!.stop()
        weir = nil

        let cloud = try MosquittoBroker(port: cloudPort)
        let inbox = try await Recorder(broker: cloud, filters: ["weir/#"])
        let again = try await DaemonHarness(
            broker: local, rules: [:], clientID: "weir-backlog", extraConfig: cloudConfig, rulesDir: rulesDir, stateDir: stateDir)
        var ids = Set<String>()
        #expect(
            await eventually(timeout: .seconds(20)) {
                ids = Set(inbox.payloads.flatMap { (try? decodeBatch($0)) ?? [] }.compactMap { $0["id"]?.stringValue })
                return ids.count == 150
            })
        #expect(ids == Set((1...150).map { "test-\($0)" }))
        try await again.stop()
    }
}
