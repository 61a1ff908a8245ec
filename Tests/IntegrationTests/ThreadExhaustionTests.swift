import Foundation
import Glibc
import Testing
import WeirCore
import WeirTestSupport

/// The system refuses new threads and processes (systemd's `TasksMax` reached, here a pids cgroup
/// at the daemon's current count): functions fail to start and are dead-lettered, rules keep
/// publishing, the daemon stays up, and all is well again once tasks are allowed.
@Suite(.serialized) struct ThreadExhaustionTests {
    static let cgroups = "/sys/fs/cgroup/pids"
    static var canUsePidsCgroup: Bool {
        getuid() == 0 && FileManager.default.isWritableFile(atPath: cgroups + "/cgroup.procs")
    }

    @Test(.enabled(if: canUsePidsCgroup, "needs root and a writable cgroup v1 pids hierarchy"))
    func noTaskLeftFailsFunctionsButNotTheDaemon() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-tasks")
        let fn = try writeScript(#"cat >/dev/null; echo '{"ok":true}'"#, in: dir)
        let rules = """
            functions:
              - name: fn
                exec: { command: ["\(fn)"] }
                retry: { attempts: 2, backoff: 100ms, max_backoff: 100ms }
            rules:
              - name: hot
                sql: SELECT device, temp FROM "sensors/+/telemetry" WHERE temp > 80
                actions:
                  - publish: { topic: "alerts/${device}", qos: 1 }
              - name: job
                sql: SELECT n FROM "jobs/#"
                actions:
                  - call: fn
            """
        let fixture = try BinaryFixture(name: "tasks", brokerPort: broker.port, rules: ["r.yaml": rules])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? -1
        }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let alerts = try await Recorder(broker: broker, filters: ["alerts/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        // Warm: the first function run starts Subprocess's threads.
        try await pub.publish(topic: "jobs/a", payload: Array(#"{"n":0}"#.utf8), qos: 1)
        #expect(await eventually { metric(#"weir_function_invocations_total{function="fn"}"#) == 1 })

        let group = Self.cgroups + "/weir-test-\(weir.pid)"
        try FileManager.default.createDirectory(atPath: group, withIntermediateDirectories: false)
        defer {
            try? "\(weir.pid)".write(toFile: Self.cgroups + "/cgroup.procs", atomically: false, encoding: .utf8)
            rmdir(group)
        }
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(weir.pid)/task").count
        try "\(tasks)".write(toFile: group + "/pids.max", atomically: false, encoding: .utf8)
        try "\(weir.pid)".write(toFile: group + "/cgroup.procs", atomically: false, encoding: .utf8)

        for n in 1...5 { try await pub.publish(topic: "jobs/a", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d1","temp":90}"#.utf8), qos: 1)
        #expect(await eventually(timeout: .seconds(30)) { alerts.count == 1 }, "rules keep publishing without new tasks")
        #expect(
            await eventually(timeout: .seconds(30)) { metric(#"weir_function_dead_letters_total{function="fn"}"#) == 5 },
            "functions that cannot start fail, are retried and dead-lettered")
        let refused = (try? String(contentsOfFile: group + "/pids.events", encoding: .utf8)) ?? ""
        #expect(!refused.contains("max 0"), "the cgroup refused tasks: \(refused)")
        #expect(!weir.hasExited)

        try "max".write(toFile: group + "/pids.max", atomically: false, encoding: .utf8)
        try await pub.publish(topic: "jobs/a", payload: Array(#"{"n":6}"#.utf8), qos: 1)
        #expect(await eventually(timeout: .seconds(30)) { metric(#"weir_function_invocations_total{function="fn"}"#) >= 7 })
        #expect(metric(#"weir_function_dead_letters_total{function="fn"}"#) == 5, "runs again once tasks are allowed")
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d2","temp":90}"#.utf8), qos: 1)
        #expect(await eventually { alerts.count == 2 })
        #expect(!weir.hasExited)
        alerts.client.shutdown()
    }
}
