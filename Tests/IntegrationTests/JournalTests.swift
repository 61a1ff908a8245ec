import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `call:` invocations are journaled before their event is acknowledged: kill -9 while they are
/// queued or running, and the next start runs them (at least once).
@Suite(.serialized) struct JournalTests {
    @Test func invocationsQueuedOrRunningAtAKillRunAfterTheRestart() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-journal")
        let done = dir.appendingPathComponent("done.log").path
        // Slow and one at a time, so most invocations are still queued when the process dies.
        let fn = try writeScript(#"sleep 0.3; cat >>"$DONE"; echo >>"$DONE""#, in: dir)
        let rules = """
            functions:
              - name: slow
                exec: { command: ["\(fn)"], timeout: 10s, env: { DONE: "\(done)" } }
                concurrency: 1
            rules:
              - name: jobs
                sql: SELECT n FROM "jobs/+"
                actions:
                  - call: slow
            """
        let fixture = try BinaryFixture(name: "journal", brokerPort: broker.port, rules: ["jobs.yaml": rules])
        func ran() -> Set<Int> {
            let text = (try? String(contentsOfFile: done, encoding: .utf8)) ?? ""
            return Set(text.split(separator: "\n").compactMap { (try? JSONParser.parse(String($0)))?["n"]?.intValue })
        }
        let first = try fixture.run(log: "first.log")
        #expect(await eventually(timeout: .seconds(20)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for n in 1...12 { try await pub.publish(topic: "jobs/a", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually { ran().count >= 2 })
        first.stop(signal: SIGKILL)
        #expect(ran().count < 12, "the kill came while invocations were still waiting")

        let second = try fixture.run(log: "second.log")
        defer { second.stop() }
        #expect(await eventually(timeout: .seconds(30)) { ran() == Set(1...12) }, "ran: \(ran().sorted())")
        let log = try String(contentsOf: fixture.dir.appendingPathComponent("second.log"), encoding: .utf8)
        #expect(log.contains("function invocations resumed from the journal"))
    }

    /// Past `pool.max_retrying`, a failure is dead-lettered at once instead of waiting for a retry.
    @Test func failuresPastTheRetryBoundAreDeadLetteredAtOnce() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-retrybound")
        let fn = try writeScript("cat >/dev/null; exit 3", in: dir)
        let rules = """
            functions:
              - name: down
                exec: { command: ["\(fn)"] }
                retry: { attempts: 5, backoff: 30s, max_backoff: 30s }
            rules:
              - name: r
                sql: SELECT n FROM "jobs/+"
                actions:
                  - call: down
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["r.yaml": rules], extraConfig: "pool: { max_retrying: 2 }")
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for n in 1...5 { try await pub.publish(topic: "jobs/a", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually { weir.metric("weir_pool_retries_refused_total") == 3 }, "two wait for their retry, three cannot")
        #expect(await eventually { weir.metric(#"weir_function_dead_letters_total{function="down"}"#) == 3 })
        let letters = try weir.daemon.deadLetters?.list() ?? []
        #expect(letters.count == 3)
        #expect(letters.allSatisfy { $0.error.contains("retry refused") })
        try await weir.stop()
    }
}
