import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `http` functions against a real HTTP server on loopback.
@Suite(.serialized) struct HTTPFunctionTests {
    @Test func rowsArePostedAsJSONWithHeadersAndTokenAndFailuresRetried() async throws {
        let broker = try MosquittoBroker()
        // The first request fails with 503, the rest succeed.
        let sink = try HTTPSink(status: { $0 == 0 ? 503 : 200 })
        defer { sink.stop() }
        let dir = try makeTemporaryDirectory(prefix: "weir-httpfn")
        let token = dir.appendingPathComponent("token").path
        try "s3cret\n".write(toFile: token, atomically: true, encoding: .utf8)
        let rules = """
            functions:
              - name: notify
                http: { url: "\(sink.url)/hooks/alert", timeout: 2s, headers: { X-Gateway: gw-01 }, token_file: "\(token)" }
                retry: { attempts: 3, backoff: 50ms }
            rules:
              - name: r
                sql: SELECT device, temp FROM "sensors/#" WHERE temp > 80
                actions:
                  - call: notify
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["h.yaml": rules])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "sensors/a", payload: Array(#"{"device":"d1","temp":91,"x":"$(reboot)"}"#.utf8), qos: 1)
        #expect(await eventually { sink.requests.count == 2 })
        #expect(await eventually { weir.metric(#"weir_function_invocations_total{function="notify"}"#) == 2 })
        #expect(weir.metric(#"weir_function_retries_total{function="notify"}"#) == 1)
        let request = try #require(sink.requests.last)
        #expect(request.method == "POST" && request.uri == "/hooks/alert")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("Authorization") == "Bearer s3cret")
        #expect(request.header("X-Gateway") == "gw-01")
        #expect(try JSONParser.parse(request.body) == ["device": "d1", "temp": 91])
        try await weir.stop()
    }

    @Test func aRefusingEndpointEndsInADeadLetter() async throws {
        let broker = try MosquittoBroker()
        let sink = try HTTPSink(status: { _ in 400 })
        defer { sink.stop() }
        let rules = """
            functions:
              - name: notify
                http: { url: "\(sink.url)/x" }
                retry: { attempts: 2, backoff: 20ms }
            rules:
              - name: r
                sql: SELECT device FROM "sensors/#"
                actions:
                  - call: notify
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["h.yaml": rules])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "sensors/a", payload: Array(#"{"device":"d7"}"#.utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_dead_letters_total{function="notify"}"#) == 1 })
        let letter = try #require(try weir.daemon.deadLetters?.list().first)
        #expect(letter.error.contains("HTTP 400") && letter.attempts == 2)
        #expect(letter.payload["row"] == ["device": "d7"])
        try await weir.stop()
    }

    /// A 3xx is a failure: the redirect is not followed (the row would go, headers and token
    /// included, to another origin, and after a 303 as a GET whose 2xx counted as success), so
    /// the row ends in a dead letter.
    @Test(arguments: [301, 302, 303, 307, 308])
    func aRedirectIsAFailureAndIsNotFollowed(status: Int) async throws {
        let broker = try MosquittoBroker()
        let elsewhere = try HTTPSink()
        defer { elsewhere.stop() }
        let sink = try HTTPSink(status: { _ in status }, redirectTo: "\(elsewhere.url)/stolen")
        defer { sink.stop() }
        let rules = """
            functions:
              - name: notify
                http: { url: "\(sink.url)/hook", headers: { X-Api-Key: k1 } }
                retry: { attempts: 2, backoff: 20ms }
            rules:
              - name: r
                sql: SELECT device FROM "sensors/#"
                actions:
                  - call: notify
            """
        let weir = try await DaemonHarness(broker: broker, rules: ["h.yaml": rules])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "sensors/a", payload: Array(#"{"device":"d3"}"#.utf8), qos: 1)
        #expect(await eventually { weir.metric(#"weir_function_dead_letters_total{function="notify"}"#) == 1 })
        #expect(sink.requests.count == 2, "both attempts went to the configured URL")
        #expect(elsewhere.requests.isEmpty, "nothing went to the redirect target")
        let letter = try #require(try weir.daemon.deadLetters?.list().first)
        #expect(letter.error.contains("HTTP \(status)"))
        try await weir.stop()
    }
}
