import Foundation
import Testing
import WeirCore
import WeirTestSupport
import WeirZstd

func httpUpstreamConfig(_ sink: HTTPSink, tokenFile: URL, compression: String = "zstd") -> String {
    """
    upstreams:
      cloud:
        http: { url: "\(sink.url)/v1/batches", token_file: \(tokenFile.path), timeout: 5s }
        batch: { max_events: 20, max_delay: 20ms }
        compression: \(compression)
        retry: { backoff: 50ms, max_backoff: 200ms }
    """
}

/// The HTTP upstream against a real HTTP server on loopback.
@Suite(.serialized) struct HTTPForwardingTests {
    func tokenFile(_ token: String) throws -> URL {
        let url = try makeTemporaryDirectory(prefix: "weir-token").appendingPathComponent("token")
        try (token + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func ids(_ requests: [HTTPSink.Request], compressed: Bool = true) throws -> [String] {
        try requests.flatMap { request -> [JSONValue] in
            let json = compressed ? try Zstd.decompress(request.body, maxSize: 16 << 20) : request.body
            guard case .array(let events) = try JSONParser.parse(json) else { return [] }
            return events
        }.compactMap { $0["id"]?.stringValue }
    }

    @Test func postsCompressedCloudEventsWithTheBearerTokenAndRetriesServerErrors() async throws {
        let local = try MosquittoBroker()
        // The first three answers are server errors: retried, never dead-lettered.
        let sink = try HTTPSink(status: { $0 < 3 ? 503 : 200 })
        let token = try tokenFile("s3cret")
        let weir = try await DaemonHarness(
            broker: local, rules: ["fwd.yaml": forwardRule], extraConfig: httpUpstreamConfig(sink, tokenFile: token))
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        for n in 0..<50 { try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":\#(n)}"#.utf8), qos: 1) }
        // Every row in the outbox first (the outbox is empty before they arrive too), then drained.
        #expect(await eventually(timeout: .seconds(20)) { weir.metric(#"weir_actions_run_total{action="forward"}"#) == 50 })
        #expect(await eventually(timeout: .seconds(20)) { weir.daemon.outboxes["cloud"]?.depth == 0 })
        // A rotated token is used from the next batch on.
        try "rotated\n".write(to: token, atomically: true, encoding: .utf8)
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":50}"#.utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_actions_run_total{action="forward"}"#) == 51 })
        #expect(
            await eventually {
                weir.daemon.outboxes["cloud"]?.depth == 0 && sink.requests.last?.header("Authorization") == "Bearer rotated"
            })

        let requests = sink.requests
        #expect(requests.count >= 5)
        #expect(requests.allSatisfy { $0.method == "POST" && $0.uri == "/v1/batches" })
        #expect(requests.allSatisfy { $0.header("Content-Type") == "application/cloudevents-batch+json" })
        #expect(requests.allSatisfy { $0.header("Content-Encoding") == "zstd" })
        #expect(requests.dropLast().allSatisfy { $0.header("Authorization") == "Bearer s3cret" })
        let delivered = try ids(Array(requests.dropFirst(3)))
        #expect(delivered == (1...51).map { "test-\($0)" }, "every event once, in order, after the retried ones")
        #expect(weir.metric(#"weir_forward_failures_total{upstream="cloud"}"#) == 3)
        #expect(weir.metric(#"weir_forwarded_events_total{upstream="cloud"}"#) == 51)
        #expect(try weir.daemon.deadLetters?.count == 0)
        try await weir.stop()
    }

    @Test func clientErrorsMoveTheBatchToDeadLettersAndTheQueueMovesOn() async throws {
        let local = try MosquittoBroker()
        // 401 (credentials, not the batch) is retried; 400 (this batch) dead-letters it.
        let sink = try HTTPSink(status: { $0 == 0 ? 401 : $0 == 1 ? 400 : 200 })
        let weir = try await DaemonHarness(
            broker: local, rules: ["fwd.yaml": forwardRule],
            extraConfig: httpUpstreamConfig(sink, tokenFile: try tokenFile("t"), compression: "none"))
        let pub = try await publisher(local)
        defer { pub.shutdown() }
        for n in 0..<30 { try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually(timeout: .seconds(20)) { weir.metric(#"weir_actions_run_total{action="forward"}"#) == 30 })
        #expect(await eventually(timeout: .seconds(20)) { weir.daemon.outboxes["cloud"]?.depth == 0 })
        try #require(sink.requests.count >= 3, "a 401, a 400, then accepted batches")

        let requests = sink.requests
        #expect(requests.allSatisfy { $0.header("Content-Encoding") == nil }, "compression: none sends plain JSON")
        let refused = try ids([requests[1]], compressed: false)
        #expect(Set(try ids([requests[0]], compressed: false)).isSubset(of: refused), "the 401 batch was retried")
        let accepted = try ids(Array(requests.dropFirst(2)), compressed: false)
        #expect(Set(refused).isDisjoint(with: accepted))
        #expect(Set(refused + accepted) == Set((1...30).map { "test-\($0)" }), "nothing lost: refused ones are dead letters")

        let letters = try #require(try weir.daemon.deadLetters?.list())
        #expect(letters.count == 1)
        let letter = try #require(letters.first)
        #expect(letter.kind == "upstream" && letter.target == "cloud" && letter.attempts == 2)
        #expect(weir.metric(#"weir_forward_failures_total{upstream="cloud"}"#) == 1)
        #expect(letter.error.contains("HTTP 400"))
        guard case .array(let rows) = letter.payload else {
            Issue.record("payload is not an array")
            return
        }
        #expect(rows.count == refused.count)
        #expect(rows.first?["data"]?["n"] == 0)
        #expect(weir.metric(#"weir_dead_letters_total{upstream="cloud"}"#) == Double(refused.count))
        try await weir.stop()
    }
}
