import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// The status page in a real browser (headless Chromium from Debian), against the real daemon
/// with traffic and an upstream that is down. The screenshot, phone-sized, is kept in
/// `.build/test-artifacts/status-page.png`.
@Suite(.serialized) struct StatusPageTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/test-artifacts")
        .standardizedFileURL

    /// Runs headless Chromium on `url` with `arguments`; its stdout.
    static func browser(_ arguments: [String], _ url: String, in dir: URL) throws -> String {
        let out = dir.appendingPathComponent("chromium-\(UUID().uuidString.prefix(6)).out")
        let process = try ChildProcess(
            chromium ?? "chromium",
            ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(dir.path)/chromium-profile"] + arguments
                + [url], output: out.path)
        _ = process.waitForExit(timeout: 60)
        return (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    }

    @Test(.enabled(if: chromium != nil, "needs Chromium (scripts/test.sh installs it)"))
    func thePageShowsRulesCountsAndTheOutboxInARealBrowser() async throws {
        let broker = try MosquittoBroker()
        let cloudPort = try freeLoopbackPort()
        let rules = """
            rules:
              - name: overheat
                sql: SELECT device, temp FROM "sensors/+/telemetry" WHERE temp > 80
                actions:
                  - forward: cloud
              - name: every-reading
                sql: SELECT device FROM "sensors/+/telemetry"
                actions:
                  - log: { level: debug }
            """
        let fixture = try BinaryFixture(
            name: "page", brokerPort: broker.port, rules: ["r.yaml": rules],
            extra: "upstreams:\n  cloud:\n    mqtt: { host: 127.0.0.1, port: \(cloudPort) }\n    batch: { max_delay: 10ms }\n")
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        let url = "http://127.0.0.1:\(fixture.admin)/"
        func count(_ rule: String, in dom: String) -> Int? {
            // <tr data-key="overheat"><td>overheat</td><td class="n">12</td>…
            guard let range = dom.range(of: "data-key=\"\(rule)\"><td>\(rule)</td><td class=\"n\">") else { return nil }
            return Int(dom[range.upperBound...].prefix { $0.isNumber })
        }
        var sent = 0
        var dom = ""
        // The upstream is down: rows queue. Counts appear once a 10 s interval has passed, and grow.
        #expect(
            await eventually(timeout: .seconds(60)) {
                for _ in 0..<5 {
                    sent += 1
                    try? await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","temp":91}"#.utf8), qos: 1)
                }
                dom = (try? Self.browser(["--dump-dom", "--virtual-time-budget=4000"], url, in: fixture.dir)) ?? ""
                return (count("overheat", in: dom) ?? 0) > 0
            }, "\(dom.suffix(3000))")
        let first = count("overheat", in: dom) ?? 0
        #expect(dom.contains(#"<span id="health" class="ok">healthy</span>"#))
        #expect(count("every-reading", in: dom) != nil)
        #expect(
            await eventually(timeout: .seconds(60)) {
                for _ in 0..<5 {
                    try? await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d","temp":91}"#.utf8), qos: 1)
                }
                dom = (try? Self.browser(["--dump-dom", "--virtual-time-budget=4000"], url, in: fixture.dir)) ?? ""
                return (count("overheat", in: dom) ?? 0) > first
            }, "counts grow")
        // The outbox's depth after the outage, as the page shows it, is the daemon's.
        func depth() -> Int? {
            Loopback.httpGet(port: fixture.admin, path: "/status").flatMap { try? JSONParser.parse(Array($0.body.utf8)) }?["upstreams"]?[
                0]?[
                    "depth"]?.intValue
        }
        #expect(
            await eventually(timeout: .seconds(30)) {
                dom = (try? Self.browser(["--dump-dom", "--virtual-time-budget=4000"], url, in: fixture.dir)) ?? ""
                guard let range = dom.range(of: #"data-key="cloud"><td>cloud (down)</td><td class="n">"#) else { return false }
                let shown = Int(dom[range.upperBound...].prefix { $0.isNumber })
                return shown != nil && shown == depth() && (shown ?? 0) >= sent
            }, "\(dom.suffix(2000))")

        try FileManager.default.createDirectory(at: Self.artifacts, withIntermediateDirectories: true)
        let shot = Self.artifacts.appendingPathComponent("status-page.png")
        try? FileManager.default.removeItem(at: shot)
        _ = try Self.browser(["--screenshot=\(shot.path)", "--window-size=412,915", "--virtual-time-budget=4000"], url, in: fixture.dir)
        #expect(FileManager.default.fileExists(atPath: shot.path), "a phone-sized screenshot is kept")
    }
}
