import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `weir dlq replay|purge` with the real binary against a running daemon.
@Suite(.serialized) struct DeadLetterReplayTests {
    @Test func replayRunsFailedInvocationsAgainAndPurgeDeletes() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory(prefix: "weir-replay")
        let state = try makeTemporaryDirectory(prefix: "weir-replay-state")
        let done = dir.appendingPathComponent("done.log").path
        // Fails until the target is "fixed" (a marker file), then records the row it got.
        let fn = try writeScript(#"[ -e "$DIR/fixed" ] || { echo "target down" >&2; exit 1; }; cat >>"$DIR/done.log""#, in: dir)
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
        let weir = try await DaemonHarness(broker: broker, rules: ["r.yaml": rules], stateDir: state)
        let port = try #require(await weir.daemon.admin?.boundPort())
        let config = dir.appendingPathComponent("weir.yaml")
        try """
        gateway_id: test
        rules_dir: \(weir.rulesDir.path)
        state_dir: \(state.path)
        admin: { listen: 127.0.0.1:\(port) }
        """.write(to: config, atomically: true, encoding: .utf8)
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        for n in 1...3 { try await pub.publish(topic: "jobs/x", payload: Array(#"{"n":\#(n)}"#.utf8), qos: 1) }
        #expect(await eventually { weir.metric(#"weir_function_dead_letters_total{function="deliver"}"#) == 3 })
        let letters = try #require(try weir.daemon.deadLetters?.list())
        let ids = letters.map(\.id)
        let inputs = letters.map { $0.payload["row"]?["n"]?.intValue ?? 0 }
        #expect(ids.count == 3 && Set(inputs) == [1, 2, 3])

        // Commands need the admin token (mode 0600 in the state directory: other local users
        // cannot read it), the CLI's header, a loopback Host (not a rebound name) and a
        // well-formed query.
        let tokenPath = state.appendingPathComponent("admin.token").path
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: tokenPath)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let token = try String(contentsOfFile: tokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let command = ["X-Weir-Command": "1", "Authorization": "Bearer \(token)"]
        #expect(Loopback.http("POST", port: port, path: "/dlq/purge?all=1", headers: ["X-Weir-Command": "1"])?.status == 401)
        #expect(
            Loopback.http("POST", port: port, path: "/dlq/purge?all=1", headers: ["X-Weir-Command": "1", "Authorization": "Bearer x"])?
                .status == 401)
        #expect(Loopback.http("POST", port: port, path: "/dlq/purge?all=1", headers: ["Authorization": "Bearer \(token)"])?.status == 403)
        #expect(
            Loopback.http("POST", port: port, path: "/dlq/purge?all=1", headers: command.merging(["Host": "evil.example"]) { $1 })?
                .status == 403)
        #expect(Loopback.http("POST", port: port, path: "/dlq/purge?=", headers: command)?.status == 400)
        #expect(weir.daemon.deadLetters?.count == 3)

        // Asked for nothing in particular, the CLI refuses rather than guessing.
        #expect(try runWeir(["dlq", "replay", "--config", config.path], in: dir).status != 0)

        try "".write(toFile: dir.appendingPathComponent("fixed").path, atomically: true, encoding: .utf8)
        let one = try runWeir(["dlq", "replay", "\(ids[0])", "--config", config.path], in: dir)
        #expect(one.status == 0 && one.output.contains(#""replayed":1"#), "\(one.output)")
        #expect(await eventually { ((try? String(contentsOfFile: done, encoding: .utf8)) ?? "").split(separator: "\n").count == 1 })
        #expect(weir.daemon.deadLetters?.count == 2, "a replayed letter is gone")

        let purged = try runWeir(["dlq", "purge", "\(ids[1])", "--config", config.path], in: dir)
        #expect(purged.status == 0 && purged.output.contains(#""purged":1"#), "\(purged.output)")
        let rest = try runWeir(["dlq", "replay", "--all", "--config", config.path], in: dir)
        #expect(rest.status == 0 && rest.output.contains(#""replayed":1"#), "\(rest.output)")
        #expect(await eventually { ((try? String(contentsOfFile: done, encoding: .utf8)) ?? "").split(separator: "\n").count == 2 })
        let rows = try String(contentsOfFile: done, encoding: .utf8).split(separator: "\n").compactMap {
            try? JSONParser.parse(Array($0.utf8))
        }
        #expect(
            Set(rows.compactMap { $0["n"]?.intValue }) == [inputs[0], inputs[2]],
            "the replayed rows are the original inputs; the purged one is not run")
        #expect(weir.daemon.deadLetters?.count == 0)

        // A missing id is an error the operator sees.
        let missing = try runWeir(["dlq", "replay", "999", "--config", config.path], in: dir)
        #expect(missing.status == 1 && missing.output.contains("no such dead letter"))
        try await weir.stop()

        // With the daemon stopped, replay says so; purge works on the store directly.
        let down = try runWeir(["dlq", "replay", "--all", "--config", config.path], in: dir)
        #expect(down.status != 0 && down.output.contains("weir is not running"))
        #expect(try runWeir(["dlq", "purge", "--all", "--config", config.path], in: dir).status == 0)
    }
}
