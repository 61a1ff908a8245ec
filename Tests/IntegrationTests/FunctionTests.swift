import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `call:` actions running real programs through the daemon.
@Suite(.serialized) struct FunctionTests {
    @Test func perFunctionConcurrencyIsNeverExceeded() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-fn")
        let log = dir.appendingPathComponent("spans.log").path
        // Each run logs its own start and end (ns) around a sleep long enough to overlap on a slow machine.
        let fn = try writeScript(
            #"cat >/dev/null; echo "s $(date +%s%N)" >>"$SPANS"; sleep 0.5; echo "e $(date +%s%N)" >>"$SPANS"; echo '{"ok":true}'"#, in: dir
        )
        let rules = """
            functions:
              - name: slow
                exec: { command: ["\(fn)"], timeout: 10s, env: { SPANS: "\(log)" } }
                concurrency: 2
            rules:
              - name: r
                sql: SELECT n FROM "jobs/#"
                actions:
                  - call: slow
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["fn.yaml": rules], extraConfig: "pool: { max_concurrency: 8 }")
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for n in 0..<8 { try await pub.publish(topic: "jobs/a", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually(timeout: .seconds(20)) { weir.metric(#"weir_function_invocations_total{function="slow"}"#) == 8 })
        let spans = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { line -> (Bool, Int)? in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let t = Int(parts[1]) else { return nil }
            return (parts[0] == "s", t)
        }.sorted { $0.1 < $1.1 }
        var running = 0
        var peak = 0
        for (isStart, _) in spans {
            running += isStart ? 1 : -1
            peak = max(peak, running)
        }
        #expect(spans.count == 16)
        #expect(peak == 2, "observed from the functions' own timestamps: at most 2 at once, and the bound was reached")
        try await weir.stop()
    }

    @Test func failuresAreRetriedThenDeadLetteredWithTheirInput() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-fn")
        let attempts = dir.appendingPathComponent("attempts.log").path
        // Each attempt logs when it started (ns), then fails.
        let fn = try writeScript(#"date +%s%N >>"$LOG"; cat >/dev/null; echo 'target unreachable' >&2; exit 7"#, in: dir)
        let rules = """
            functions:
              - name: flaky
                exec: { command: ["\(fn)"], env: { LOG: "\(attempts)" } }
                retry: { attempts: 3, backoff: 200ms, max_backoff: 1s }
            rules:
              - name: r
                sql: SELECT device FROM "jobs/#"
                actions:
                  - call: flaky
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["fn.yaml": rules])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "jobs/a", payload: Array(#"{"device":"d9"}"#.utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_dead_letters_total{function="flaky"}"#) == 1 })
        #expect(weir.metric(#"weir_function_invocations_total{function="flaky"}"#) == 3)
        #expect(weir.metric(#"weir_function_retries_total{function="flaky"}"#) == 2)
        let letter = try #require(try weir.daemon.deadLetters?.list().first)
        #expect(letter.kind == "function" && letter.target == "flaky" && letter.attempts == 3)
        #expect(letter.error.contains("exited with status 7") && letter.error.contains("target unreachable"))
        #expect(letter.payload["row"] == ["device": "d9"] && letter.payload["rule"] == "r")
        // Backoff 200 ms doubling, with up to 50 % jitter off: at least 100 ms, then at least 200 ms.
        let starts = try String(contentsOfFile: attempts, encoding: .utf8).split(separator: "\n").compactMap { Int64($0) }
        #expect(starts.count == 3)
        if starts.count == 3 {
            #expect(starts[1] - starts[0] >= 100_000_000, "first retry after \((starts[1] - starts[0]) / 1_000_000) ms")
            #expect(starts[2] - starts[1] >= 200_000_000, "second retry after \((starts[2] - starts[1]) / 1_000_000) ms")
        }
        try await weir.stop()
    }

    @Test func payloadsFullOfShellMetacharactersAreOnlyData() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-fn")
        let marker = dir.appendingPathComponent("pwned").path
        let received = dir.appendingPathComponent("stdin.json").path
        let fn = try writeScript(#"cat >"$OUT""#, in: dir)
        let rules = """
            functions:
              - name: sink
                exec: { command: ["\(fn)", "--name", "literal"], env: { OUT: "\(received)" } }
            rules:
              - name: r
                sql: SELECT note FROM "jobs/#"
                actions:
                  - call: sink
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["fn.yaml": rules])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let hostile = "$(touch \(marker)); `touch \(marker)`; touch \(marker) && echo 'x' \" | sh"
        try await pub.publish(topic: "jobs/a", payload: JSONWriter.bytes(["note": .string(hostile)]), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_invocations_total{function="sink"}"#) == 1 })
        let input = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: received))))
        #expect(input == ["note": .string(hostile)], "the row arrives as JSON on stdin, byte for byte")
        #expect(!FileManager.default.fileExists(atPath: marker), "nothing from the event was executed")
        try await weir.stop()
    }

    @Test func aRetryWaitsWithoutHoldingAWorkerAndAStopRunsItAtOnce() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-fn")
        // Fails its first attempt; the retry is 30 s away.
        let flaky = try writeScript(
            #"cat >/dev/null; [ -e "$DIR/tried" ] && { echo ok >>"$DIR/flaky.log"; exit 0; }; : >"$DIR/tried"; exit 1"#, in: dir)
        let quick = try writeScript(#"cat >>"$DIR/quick.log""#, in: dir)
        let rules = """
            functions:
              - name: flaky
                exec: { command: ["\(flaky)"], env: { DIR: "\(dir.path)" } }
                retry: { attempts: 2, backoff: 30s, max_backoff: 30s }
              - name: quick
                exec: { command: ["\(quick)"], env: { DIR: "\(dir.path)" } }
            rules:
              - { name: a, sql: 'SELECT * FROM "a"', actions: [ { call: flaky } ] }
              - { name: b, sql: 'SELECT * FROM "b"', actions: [ { call: quick } ] }
            """
        // One pool worker: had the retry kept it, nothing else could run for 30 s.
        let weir = try await DaemonHarness(broker: broker, rules: ["fn.yaml": rules], extraConfig: "pool: { max_concurrency: 1 }")
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "a", payload: Array("{}".utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_retries_total{function="flaky"}"#) == 1 })
        for n in 0..<5 { try await pub.publish(topic: "b", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually { weir.metric(#"weir_function_invocations_total{function="quick"}"#) == 5 })
        #expect(weir.metric(#"weir_function_invocations_total{function="flaky"}"#) == 1, "the retry is still waiting")
        #expect(weir.daemon.pool.waitingForRetry == 1)
        // A graceful stop does not wait 30 s: the waiting retry runs now, and succeeds.
        let stopping = ContinuousClock.now
        try await weir.stop()
        #expect(ContinuousClock.now - stopping < .seconds(25), "well under the 30 s backoff")
        #expect(weir.metric(#"weir_function_invocations_total{function="flaky"}"#) == 2)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("flaky.log").path))
    }

    /// Output past the 1 MiB bound is dropped, counted and logged, not silently cut (issue 11);
    /// the run itself still counts by what was kept.
    @Test func outputPastTheBoundIsCounted() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-fn-big")
        let fn = try writeScript(#"cat >/dev/null; echo '{"ok":true}'; head -c 2000000 /dev/zero >&2"#, in: dir)
        let rules = """
            functions:
              - name: chatty
                exec: { command: ["\(fn)"], timeout: 10s }
            rules:
              - name: r
                sql: SELECT n FROM "jobs/#"
                actions:
                  - call: chatty
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["fn.yaml": rules])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "jobs/a", payload: Array(#"{"n":1}"#.utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_output_truncated_total{function="chatty"}"#) == 1 })
        #expect(await eventually { weir.metric(#"weir_function_invocations_total{function="chatty"}"#) == 1 })
        #expect(weir.metric(#"weir_function_failures_total{function="chatty"}"#) == 0)
        try await weir.stop()
    }
}
