import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `emit`: what a function prints re-enters the rules as events, with a hop limit against loops.
@Suite(.serialized) struct ChainTests {
    @Test func emittedEventsReenterTheRulesOnTheirTopic() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-chain")
        // Two output lines per input: each becomes an event on its own topic.
        let double = try writeScript(
            #"read -r line; n=$(echo "$line" | sed 's/[^0-9]//g'); echo "{\"n\":$n,\"part\":1}"; echo "{\"n\":$n,\"part\":2}""#, in: dir)
        let rules = """
            functions:
              - name: split
                exec: { command: ["\(double)"] }
                emit: "stage2/${n}/${part}"
            rules:
              - name: first
                sql: SELECT n FROM "stage1/#"
                actions:
                  - call: split
              - name: second
                sql: SELECT n, part, topic(2) AS t FROM "stage2/+/+"
                actions:
                  - publish: { topic: "done/${t}/${part}", qos: 1 }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["chain.yaml": rules])
        let recorder = try await Recorder(broker: broker, filters: ["done/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for n in 1...5 { try await pub.publish(topic: "stage1/x", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually { recorder.count == 10 })
        let topics = Set(recorder.log.entries.withLock { $0.map(\.topic) })
        #expect(topics == Set((1...5).flatMap { n in ["done/\(n)/1", "done/\(n)/2"] }))
        #expect(await eventually { weir.metric("weir_events_emitted_total") == 10 })
        #expect(await eventually { weir.metric(#"weir_function_emitted_total{function="split"}"#) == 10 })
        // Emitted events are internal: they were never published to the broker.
        #expect(weir.metric("weir_events_in_total") == 5)
        recorder.client.shutdown()
        try await weir.stop()
    }

    @Test func aLoopIsStoppedAtTheHopLimitAndCounted() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-chain")
        let echo = try writeScript("cat", in: dir)
        // The function's output lands on the topic that calls it again: an endless loop but for max_hops.
        let rules = """
            functions:
              - name: echo
                exec: { command: ["\(echo)"] }
                emit: "loop/again"
            rules:
              - name: loop
                sql: SELECT * FROM "loop/#"
                actions:
                  - call: echo
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["loop.yaml": rules], extraConfig: "max_hops: 3")
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "loop/start", payload: Array(#"{"x":1}"#.utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_chain_stopped_total{function="echo"}"#) == 1 })
        // The device event, then 3 emitted hops: 4 invocations, and the 4th's output was stopped.
        #expect(weir.metric(#"weir_function_invocations_total{function="echo"}"#) == 4)
        #expect(weir.metric("weir_events_emitted_total") == 3)
        // And the daemon keeps serving: a second loop is stopped the same way.
        try await pub.publish(topic: "loop/start", payload: Array(#"{"x":2}"#.utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_chain_stopped_total{function="echo"}"#) == 2 })
        #expect(weir.metric(#"weir_function_invocations_total{function="echo"}"#) == 8)
        try await weir.stop()
    }

    @Test func chainsFanningOutPastTheQueueBoundDoNotDeadlockThePool() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-chain")
        // Every invocation prints 20 lines; with a queue of 4 and 2 workers, workers that had to
        // wait for room in their own queue would wait forever.
        let fan = try writeScript(#"cat >/dev/null; i=0; while [ $i -lt 20 ]; do echo "{\"i\":$i}"; i=$((i+1)); done"#, in: dir)
        let rules = """
            functions:
              - name: fan
                exec: { command: ["\(fan)"] }
                concurrency: 2
                emit: "fanned/${i}"
            rules:
              - name: start
                sql: SELECT * FROM "fan/start"
                actions:
                  - call: fan
              - name: leaf
                sql: SELECT i FROM "fanned/+"
                actions:
                  - log: { level: debug }
            """
        let weir = try await DaemonHarness(
            broker: broker, rules: ["fan.yaml": rules], extraConfig: "pool: { max_concurrency: 2, max_queued: 4 }")
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for _ in 0..<6 { try await pub.publish(topic: "fan/start", payload: Array("{}".utf8), qos: 1) }
        #expect(await eventually(timeout: .seconds(30)) { weir.metric(#"weir_rule_matched_total{rule="leaf"}"#) == 120 })
        try await weir.stop()
    }

    @Test func anEmittedValueWithoutItsTopicFieldIsDeadLettered() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-chain")
        let fn = try writeScript(#"cat >/dev/null; echo '{"x":1}'; echo '{"device":"d1"}'"#, in: dir)
        let rules = """
            functions:
              - name: f
                exec: { command: ["\(fn)"] }
                emit: "out/${device}"
            rules:
              - { name: start, sql: 'SELECT * FROM "go"', actions: [ { call: f } ] }
              - { name: next, sql: 'SELECT * FROM "out/+"', actions: [ { log: { level: debug } } ] }
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["e.yaml": rules])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "go", payload: Array("{}".utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_dead_letters_total{function="f"}"#) == 1 })
        #expect(await eventually { weir.metric(#"weir_rule_matched_total{rule="next"}"#) == 1 }, "the good value still went on")
        let letter = try #require(try weir.daemon.deadLetters?.list().first)
        #expect(letter.kind == "emit" && letter.error.contains("device"))
        #expect(letter.payload["row"]?["output"] == ["x": 1])
        try await weir.stop()
    }
}
