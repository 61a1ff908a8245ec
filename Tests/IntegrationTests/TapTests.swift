import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `weir tap` against the real daemon: events on a topic, a rule's rows, the credential, the cap
/// on open taps, and nothing left in the daemon once the tap stops.
@Suite(.serialized) struct TapTests {
    @Test func tapShowsEventsAndRowsAndLeavesNothingBehind() async throws {
        let broker = try MosquittoBroker()
        let fixture = try BinaryFixture(name: "tap", brokerPort: broker.port, rules: ["overheat.yaml": overheatRule])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        func openTaps() -> Int? {
            Loopback.httpGet(port: fixture.admin, path: "/status").flatMap { try? JSONParser.parse(Array($0.body.utf8)) }?["taps_open"]?
                .intValue
        }
        func tap(_ arguments: [String], _ name: String) throws -> (ChildProcess, URL) {
            let out = fixture.dir.appendingPathComponent(name)
            let process = try ChildProcess(try weirExecutable(), ["tap", "--config", fixture.config.path] + arguments, output: out.path)
            return (process, out)
        }
        func lines(_ file: URL) -> [JSONValue] {
            ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONParser.parse(Array($0.utf8))
            }
        }

        // Events on a topic filter: the tap stops by itself after 3 lines, and closes in the daemon.
        let (events, eventsOut) = try tap(["--topic", "sensors/#", "--limit", "3"], "events.out")
        var n = 0
        #expect(
            await eventually(timeout: .seconds(30)) {
                n += 1
                try? await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d\#(n)","temp":20}"#.utf8), qos: 1)
                return lines(eventsOut).count == 3
            })
        #expect(events.waitForExit(timeout: 10) == 0)
        let first = lines(eventsOut).first
        #expect(first?["kind"] == "event" && first?["topic"] == "sensors/s1/telemetry")
        #expect(first?["payload"]?["temp"]?.intValue == 20)
        #expect(await eventually { openTaps() == 0 }, "nothing left running in the daemon")

        // A rule's rows, with the actions they run; Ctrl-C stops it cleanly.
        let (rows, rowsOut) = try tap(["--rule", "overheat"], "rows.out")
        #expect(
            await eventually(timeout: .seconds(30)) {
                try? await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"hot","temp":95}"#.utf8), qos: 1)
                return !lines(rowsOut).isEmpty
            })
        let row = lines(rowsOut).first
        #expect(row?["kind"] == "row" && row?["rule"] == "overheat")
        #expect(row?["row"]?["device"] == "hot")
        #expect(row?["actions"] == ["publish", "log"])
        kill(rows.pid, SIGINT)
        #expect(rows.waitForExit(timeout: 10) != nil)
        #expect(await eventually { openTaps() == 0 })

        // It shows payloads: without the admin token, refused.
        #expect(
            Loopback.http("GET", port: fixture.admin, path: "/tap?topic=%23", headers: ["X-Weir-Command": "1"])?.status == 401)
        // At most 4 at once: a fifth is refused while four run.
        var running: [ChildProcess] = []
        for i in 0..<4 { running.append(try tap(["--topic", "nothing/\(i)"], "idle\(i).out").0) }
        defer { for process in running { process.stop(signal: SIGKILL) } }
        #expect(await eventually { openTaps() == 4 })
        let refused = try runWeir(["tap", "--config", fixture.config.path, "--topic", "#"], in: fixture.dir)
        #expect(refused.status == 1 && refused.output.contains("taps are open already"), "\(refused.output)")
        for process in running { process.stop(signal: SIGINT) }
        #expect(await eventually { openTaps() == 0 })
    }
}
