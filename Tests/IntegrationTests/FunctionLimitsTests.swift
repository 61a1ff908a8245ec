import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `limits:` on exec functions (issue 11), through the real binary: each process a function
/// starts, oneshot or worker, gets the limits (prlimit), and a greedy program fails at its memory
/// limit instead of growing until the OOM killer picks something.
@Suite(.serialized) struct FunctionLimitsTests {
    /// The `Max data size`, `Max cpu time` and `Max open files` soft limits in a /proc limits file.
    static func limits(_ text: String) -> [String: String] {
        var found: [String: String] = [:]
        for line in text.split(separator: "\n") {
            for name in ["Max data size", "Max cpu time", "Max open files"] where line.hasPrefix(name) {
                found[name] = line.dropFirst(name.count).split(separator: " ").first.map(String.init)
            }
        }
        return found
    }

    @Test func everyProcessAFunctionStartsGetsItsLimits() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-limits")
        let oneshotOut = dir.appendingPathComponent("oneshot.limits").path
        let workerOut = dir.appendingPathComponent("worker.limits").path
        // Reads its limits once its stdin is done, which Weir closes only after setting them.
        let oneshot = try writeScript(#"cat >/dev/null; cat /proc/self/limits >"$OUT"; echo '{}'"#, in: dir)
        let worker = try writeScript(
            #"while IFS= read -r line; do id=${line#\{\"id\":}; id=${id%%,*}; cat /proc/$$/limits >"$OUT"; "#
                + #"printf '{"id":%s,"output":[]}\n' "$id"; done"#, in: dir)
        let greedy = try writeScript(#"cat >/dev/null; exec python3 -c 'b = bytearray(256 * 1024 * 1024); print("{}")'"#, in: dir)
        let rules = """
            functions:
              - name: oneshot
                exec: { command: ["\(oneshot)"], env: { OUT: "\(oneshotOut)" } }
                limits: { memory: 64MiB, cpu_seconds: 5, open_files: 64 }
              - name: worker
                exec: { command: ["\(worker)"], mode: worker, env: { OUT: "\(workerOut)" } }
                limits: { open_files: 32 }
              - name: greedy
                exec: { command: ["\(greedy)"], env: { PATH: "/usr/bin:/bin" } }
                limits: { memory: 64MiB }
                retry: { attempts: 1 }
              - name: unlimited
                exec: { command: ["\(greedy)"], env: { PATH: "/usr/bin:/bin" } }
            rules:
              - name: r
                sql: SELECT n FROM "jobs/#"
                actions:
                  - call: oneshot
                  - call: worker
                  - call: greedy
                  - call: unlimited
            """
        let fixture = try BinaryFixture(name: "limits", brokerPort: broker.port, rules: ["fn.yaml": rules])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        func metric(_ series: String) -> Double {
            Loopback.httpGet(port: fixture.admin, path: "/metrics").flatMap { Loopback.metricValue($0.body, series) } ?? 0
        }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "jobs/a", payload: Array(#"{"n":1}"#.utf8), qos: 1)
        #expect(
            await eventually(timeout: .seconds(30)) {
                metric(#"weir_function_invocations_total{function="oneshot"}"#) == 1
                    && metric(#"weir_function_invocations_total{function="worker"}"#) == 1
                    && metric(#"weir_function_dead_letters_total{function="greedy"}"#) == 1
                    && metric(#"weir_function_invocations_total{function="unlimited"}"#) == 1
            })
        let seen = Self.limits((try? String(contentsOfFile: oneshotOut, encoding: .utf8)) ?? "")
        #expect(seen == ["Max data size": "\(64 << 20)", "Max cpu time": "5", "Max open files": "64"], "\(seen)")
        let workerSeen = Self.limits((try? String(contentsOfFile: workerOut, encoding: .utf8)) ?? "")
        #expect(workerSeen["Max open files"] == "32", "\(workerSeen)")
        #expect(workerSeen["Max data size"] == "unlimited")
        // The same program without limits allocates its 256 MiB and succeeds.
        #expect(metric(#"weir_function_failures_total{function="unlimited"}"#) == 0)
    }
}
