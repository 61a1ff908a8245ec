import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `weir status` against the real daemon: one screen, `--json` for scripts, and the exit code.
@Suite(.serialized) struct StatusTests {
    @Test func statusShowsTheDaemonAndItsExitCodeFollowsHealth() async throws {
        let broker = try MosquittoBroker()
        let cloudPort = try freeLoopbackPort()
        let rules = """
            rules:
              - name: overheat
                sql: SELECT device, temp FROM "sensors/+/telemetry" WHERE temp > 80
                actions:
                  - forward: cloud
              - name: picky
                sql: SELECT device FROM "sensors/+/telemetry" WHERE temp > 'x'
                actions:
                  - log: {}
              - name: nightly
                schedule: "every 1d"
                actions:
                  - log: {}
            """
        let fixture = try BinaryFixture(
            name: "status", brokerPort: broker.port, rules: ["r.yaml": rules],
            extra: """
                upstreams:
                  cloud:
                    mqtt: { host: 127.0.0.1, port: \(cloudPort) }
                    batch: { max_delay: 10ms }
                """)
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for n in 0..<20 {
            try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d\#(n)","temp":91}"#.utf8), qos: 1)
        }
        func status(_ extra: [String] = []) throws -> (status: Int32?, output: String) {
            try runWeir(["status", "--config", fixture.config.path] + extra, in: fixture.dir)
        }
        // The cloud is down: the 20 rows wait in the outbox.
        var report = JSONValue.null
        #expect(
            await eventually {
                guard let out = try? status(["--json"]), out.status == 0, let json = try? JSONParser.parse(Array(out.output.utf8)) else {
                    return false
                }
                report = json
                return json["upstreams"]?[0]?["depth"]?.intValue == 20
            })
        #expect(report["healthy"] == .bool(true))
        #expect(report["broker"]?["connected"] == .bool(true))
        #expect(report["rules"]?["loaded"]?.intValue == 2)
        #expect(report["upstreams"]?[0]?["name"] == "cloud")
        #expect(report["upstreams"]?[0]?["connected"] == .bool(false))
        #expect(report["store"]?["writable"] == .bool(true))
        #expect(report["schedules"]?[0]?["rule"] == "nightly")
        guard case .array(let activity)? = report["rules"]?["activity"]?["rules"] else {
            Issue.record("no activity: \(report)")
            return
        }
        let overheat = activity.first { $0["rule"] == "overheat" }
        #expect((overheat?["matched_per_second"]?.doubleValue ?? 0) > 0)
        #expect(activity.first { $0["rule"] == "picky" }?["errors"]?.intValue == 20, "\(activity)")

        // A rejected reload shows on the screen, with its first error.
        try "name: broken\nsql: SELECT\n".write(to: fixture.rules.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        kill(weir.pid, SIGHUP)
        var screen = ""
        #expect(
            await eventually {
                screen = (try? status().output) ?? ""
                return screen.contains("REJECTED")
            })
        #expect(screen.contains("HEALTHY"), "\(screen)")
        #expect(screen.contains("upstream    cloud: NOT CONNECTED, 20 queued"), "\(screen)")
        #expect(screen.contains("picky") && screen.contains("20 ERRORS"), "\(screen)")
        #expect(screen.contains("broken.yaml:2:"), "\(screen)")

        // Broker down: degraded, exit 1. Daemon gone: exit 2.
        broker.stop()
        #expect(await eventually { (try? status())?.status == 1 })
        weir.stop(signal: SIGKILL)
        #expect(try status().status == 2)
    }
}
