import Foundation
import Testing
import WeirCore
import WeirTestSupport
import WeirZstd

/// The `weir` executable next to the test bundle (built by `swift build --build-tests`).
func weirExecutable() throws -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let path = dir.appendingPathComponent("weir").path
    guard FileManager.default.isExecutableFile(atPath: path) else { throw TestSupportError("weir binary not found at \(path)") }
    return path
}

/// A Unix datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let path: String
    let fd: Int32

    init(directory: URL) throws {
        path = directory.appendingPathComponent("notify.sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestSupportError("bind notify socket failed") }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Messages received until one contains `needle` or `seconds` pass.
    func wait(for needle: String, seconds: Double = 15) -> [String] {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                let message = String(decoding: buffer[0..<n], as: UTF8.self)
                messages.append(message)
                if message.contains(needle) { return messages }
            }
        }
        return messages
    }

    deinit { close(fd) }
}

/// A directory with `rules/` holding `rules` and a `weir.yaml` for the real binary: gateway `name`,
/// the given broker, the admin server on a free port, plus `extra` configuration.
struct BinaryFixture {
    let dir: URL
    let rules: URL
    let config: URL
    let admin: Int

    init(name: String, brokerPort: Int, rules files: [String: String], extra: String = "") throws {
        dir = try makeTemporaryDirectory(prefix: "weir-\(name)")
        rules = dir.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        for (file, text) in files { try text.write(to: rules.appendingPathComponent(file), atomically: true, encoding: .utf8) }
        admin = try freeLoopbackPort()
        config = dir.appendingPathComponent("weir.yaml")
        try """
        gateway_id: \(name)
        rules_dir: \(rules.path)
        state_dir: \(dir.path)/state
        mqtt: { port: \(brokerPort), client_id: weir-\(name), qos: 1 }
        admin: { listen: 127.0.0.1:\(admin) }
        \(extra)
        """.write(to: config, atomically: true, encoding: .utf8)
    }

    /// Starts `weir run` on this configuration, logging to `log` in the directory.
    func run(log: String = "weir.log", environment: [String: String]? = nil) throws -> ChildProcess {
        try ChildProcess(
            try weirExecutable(), ["run", "--config", config.path], output: dir.appendingPathComponent(log).path, environment: environment)
    }
}

@Suite(.serialized) struct CLITests {
    @Test func runNotifiesSystemdReloadsOnSIGHUPAndStopsGracefullyOnSIGTERM() async throws {
        let broker = try MosquittoBroker()
        let fixture = try BinaryFixture(
            name: "cli", brokerPort: broker.port, rules: ["overheat.yaml": overheatRule], extra: "rules_watch_interval: 0s")
        let (dir, rules, admin) = (fixture.dir, fixture.rules, fixture.admin)
        let notify = try NotifySocket(directory: dir)
        let log = dir.appendingPathComponent("weir.log").path
        let weir = try fixture.run(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000", "PATH": "/usr/bin:/bin"])
        defer { weir.stop(signal: SIGKILL) }

        let startup = notify.wait(for: "READY=1")
        #expect(startup.contains { $0.contains("READY=1") }, "log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(notify.wait(for: "WATCHDOG=1", seconds: 10).contains { $0.contains("WATCHDOG=1") })
        // The admin endpoint binds on its own task: it may answer a moment after READY=1.
        #expect(await eventually { (try? httpGet(port: admin, path: "/healthz"))?.status == 200 })

        // SIGHUP reloads: a second rule appears; a broken file afterwards is rejected.
        try "name: extra\nsql: SELECT * FROM \"x/#\"\nactions: [ { log: {} } ]\n".write(
            to: rules.appendingPathComponent("extra.yaml"), atomically: true, encoding: .utf8)
        kill(weir.pid, SIGHUP)
        #expect(await eventually { metricValue((try? httpGet(port: admin, path: "/metrics").body) ?? "", "weir_rules_loaded") == 2 })
        try "name: broken\nsql: SELECT\n".write(to: rules.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        kill(weir.pid, SIGHUP)
        #expect(
            await eventually {
                metricValue((try? httpGet(port: admin, path: "/metrics").body) ?? "", #"weir_rule_reloads_total{result="failed"}"#) == 1
            })
        #expect(metricValue(try httpGet(port: admin, path: "/metrics").body, "weir_rules_loaded") == 2)
        // `weir reload --pid` (the unit's ExecReload) sends the same SIGHUP: the broken file fails again.
        let reload = try runWeir(["reload", "--pid", "\(weir.pid)"], in: dir)
        #expect(reload.status == 0, "\(reload.output)")
        #expect(
            await eventually {
                metricValue((try? httpGet(port: admin, path: "/metrics").body) ?? "", #"weir_rule_reloads_total{result="failed"}"#) == 2
            })
        #expect(try runWeir(["--version"], in: dir).output.trimmingCharacters(in: .whitespacesAndNewlines) == "0.0.0-dev")

        kill(weir.pid, SIGTERM)
        #expect(notify.wait(for: "STOPPING=1").contains { $0.contains("STOPPING=1") })
        #expect(await eventually { weir.hasExited })
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("broken.yaml:2:"), "reload errors name the file and position")
        #expect(text.contains("weir stopped"))
    }

    @Test func checkReportsEveryErrorWithItsPositionAndFails() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-check")
        let rules = dir.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        try "name: a\nsql: SELECT a FORM \"t\"\nactions: [ { log: {} } ]\n".write(
            to: rules.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try "name: b\nsql: SELECT b FROM \"t\"\nactions: [ { mail: {} } ]\n".write(
            to: rules.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        try "rules_dir: \(rules.path)\n".write(to: dir.appendingPathComponent("weir.yaml"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.txt").path
        let check = try ChildProcess(
            try weirExecutable(), ["check", "--config", dir.appendingPathComponent("weir.yaml").path], output: out)
        let status = check.waitForExit(timeout: 20)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(status.map { ($0 >> 8) & 0xff } == 1)
        #expect(text.contains("\(rules.path)/a.yaml:2:15: expected FROM after select list"), "\(text)")
        #expect(text.contains("\(rules.path)/b.yaml:3:14: unknown action 'mail'"), "\(text)")
    }

    @Test func testCommandDryRunsWithoutABroker() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-dry")
        let rules = dir.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        try overheatRule.write(to: rules.appendingPathComponent("overheat.yaml"), atomically: true, encoding: .utf8)
        try "rules_dir: \(rules.path)\nmqtt: { port: 1 }\n".write(
            to: dir.appendingPathComponent("weir.yaml"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.txt").path
        let run = try ChildProcess(
            try weirExecutable(),
            [
                "test", "--config", dir.appendingPathComponent("weir.yaml").path, "--topic", "sensors/s9/telemetry", "--payload",
                #"{"device":"d1","temp":91}"#,
            ],
            output: out)
        let status = run.waitForExit(timeout: 20)
        #expect(status == 0)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.contains("rule overheat: matched"))
        #expect(text.contains(#"row: {"device":"d1","temp":91,"site":"s9"}"#))
        #expect(text.contains("publish to 'alerts/s9/d1' qos=1 retain=false"))
    }

    @Test func decodeTurnsACompressedBatchBackIntoEvents() throws {
        let dir = try makeTemporaryDirectory(prefix: "weir-decode")
        let batch = dir.appendingPathComponent("batch.zst")
        let json = #"[{"specversion":"1.0","id":"gw-1","data":{"t":1}},{"specversion":"1.0","id":"gw-2","data":{"t":2}}]"#
        try Data(try Zstd.compress(Array(json.utf8))).write(to: batch)
        let out = dir.appendingPathComponent("out.txt").path
        let decode = try ChildProcess(try weirExecutable(), ["decode", batch.path], output: out)
        #expect(decode.waitForExit(timeout: 20) == 0)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines == [#"{"specversion":"1.0","id":"gw-1","data":{"t":1}}"#, #"{"specversion":"1.0","id":"gw-2","data":{"t":2}}"#])

        try Data("not a batch".utf8).write(to: batch)
        let bad = try ChildProcess(try weirExecutable(), ["decode", batch.path], output: out)
        #expect(bad.waitForExit(timeout: 20).map { ($0 >> 8) & 0xff } == 1)
    }
}
