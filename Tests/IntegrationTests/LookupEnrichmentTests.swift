import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// Lookup tables through the real binary: enrichment in SELECT and WHERE, a changed table file
/// reloads with the rules, a broken one keeps the tables in force and is a positioned error in
/// `weir check`.
@Suite(.serialized) struct LookupEnrichmentTests {
    static let rule = """
        tables:
          - name: devices
            file: ./devices.csv
            key: id
        rules:
          - name: enrich
            sql: >-
              SELECT device, temp, lookup('devices', device, 'site') AS site
              FROM "sensors/+/telemetry" WHERE temp > lookup('devices', device, 'max_temp')
            actions:
              - publish: { topic: "enriched/${device}", qos: 1 }
        """

    @Test func aRuleEnrichesFromATableAndATableChangeReloadsIt() async throws {
        let broker = try MosquittoBroker()
        let fixture = try BinaryFixture(
            name: "lookup", brokerPort: broker.port,
            rules: ["enrich.yaml": Self.rule, "devices.csv": "id,site,max_temp\nd1,north,80\nd2,south,50\n"],
            extra: "rules_watch_interval: 100ms")
        let recorder = try await Recorder(broker: broker, filters: ["enriched/#"])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? 0
        }
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        func send(_ payload: String) async throws {
            try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(payload.utf8), qos: 1)
        }

        // d1's threshold is 80, d2's 50, d3 has no row: its max_temp is null, so WHERE is not true.
        try await send(#"{"device":"d1","temp":70}"#)
        try await send(#"{"device":"d2","temp":70}"#)
        try await send(#"{"device":"d3","temp":99}"#)
        try await send(#"{"device":"d1","temp":85}"#)
        #expect(await eventually { metric("weir_events_in_total") == 4 && recorder.count == 2 })
        var rows = try recorder.all.map { try JSONParser.parse($0.payload) }
        #expect(rows.map { $0["device"] } == ["d2", "d1"])
        #expect(rows.map { $0["site"] } == ["south", "north"])

        // The table changes on disk: the rules reload with it, without a SIGHUP.
        let reloads = metric(#"weir_rule_reloads_total{result="ok"}"#)
        try "id,site,max_temp\nd1,west,60\nd2,south,50\nd3,east,90\n".write(
            to: fixture.rules.appendingPathComponent("devices.csv"), atomically: true, encoding: .utf8)
        #expect(await eventually { metric(#"weir_rule_reloads_total{result="ok"}"#) > reloads })
        try await send(#"{"device":"d1","temp":70}"#)
        try await send(#"{"device":"d3","temp":95}"#)
        #expect(await eventually { recorder.count == 4 })
        rows = try recorder.all.map { try JSONParser.parse($0.payload) }
        #expect(rows.suffix(2).map { $0["site"] } == ["west", "east"])

        // A broken table fails the reload and the tables in force stay: d1 still enriches as west.
        try "id,site,max_temp\nd1,west,60\nd1,twice,1\n".write(
            to: fixture.rules.appendingPathComponent("devices.csv"), atomically: true, encoding: .utf8)
        #expect(await eventually { metric(#"weir_rule_reloads_total{result="failed"}"#) >= 1 })
        try await send(#"{"device":"d1","temp":70}"#)
        #expect(await eventually { recorder.count == 5 })
        #expect(try recorder.all.last.map { try JSONParser.parse($0.payload)["site"] } == "west")

        // weir check points at the table file's line.
        let (status, output) = try runWeir(["check", "--config", fixture.config.path], in: fixture.dir)
        #expect(status != 0)
        #expect(output.contains("devices.csv:3:1: table 'devices': duplicate key 'd1' (first at line 2)"), "\(output)")
    }
}
