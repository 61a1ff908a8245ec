import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `replay --all` reads letters in bounded batches, and two replays at once cannot hand the same
/// letters back twice (issue 11).
@Suite(.serialized) struct ReplayAllTests {
    @Test func manyLettersReplayOnceEachEvenWithTwoReplaysAtOnce() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-replay-all")
        let state = try makeTemporaryDirectory(prefix: "weir-replay-all-state")
        let done = dir.appendingPathComponent("done.log").path
        let fn = try writeScript(#"[ -e "$DIR/fixed" ] || exit 1; cat >>"$DIR/done.log""#, in: dir)
        let rules = """
            functions:
              - name: deliver
                exec: { command: ["\(fn)"], env: { DIR: "\(dir.path)" } }
                retry: { attempts: 1 }
            rules:
              - name: r
                sql: SELECT n FROM "jobs/#"
                actions:
                  - call: deliver
            """
        let letters = 300  // more than one batch of 256
        let weir = try await DaemonHarness(broker: broker, rules: ["r.yaml": rules], stateDir: state)
        let port = try #require(await weir.daemon.admin?.boundPort())
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for n in 1...letters { try await pub.publish(topic: "jobs/x", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually(timeout: .seconds(60)) { weir.daemon.deadLetters?.count == letters })
        try "".write(toFile: dir.appendingPathComponent("fixed").path, atomically: true, encoding: .utf8)
        let token = try String(contentsOfFile: state.appendingPathComponent("admin.token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let headers = ["X-Weir-Command": "1", "Authorization": "Bearer \(token)"]
        // Off the cooperative pool: the daemon under test runs in this process, and two blocking
        // requests would hold both of a 2-core machine's pool threads while it answers.
        let answers = await withTaskGroup(of: (Int, String)?.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    await BlockingThreads.shared.run {
                        Loopback.http("POST", port: port, path: "/dlq/replay?all=1", headers: headers, timeoutSeconds: 120)
                    }
                }
            }
            var all: [(Int, String)?] = []
            for await answer in group { all.append(answer) }
            return all.compactMap { $0 }
        }
        #expect(answers.count == 2 && answers.contains { $0.0 == 200 })
        #expect(answers.allSatisfy { $0.0 == 200 || ($0.0 == 409 && $0.1.contains("already running")) }, "\(answers)")
        func lines() -> [Substring] { ((try? String(contentsOfFile: done, encoding: .utf8)) ?? "").split(separator: "\n") }
        #expect(await eventually(timeout: .seconds(60)) { lines().count >= letters })
        let inputs = lines().compactMap { try? JSONParser.parse(Array($0.utf8))["n"]?.intValue }
        #expect(inputs.count == letters && Set(inputs).count == letters, "each letter ran once")
        #expect(weir.daemon.deadLetters?.count == 0)
        try await weir.stop()
    }
}
