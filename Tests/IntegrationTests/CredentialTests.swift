import Foundation
import Testing
import WeirCore
import WeirTestSupport

/// `credential:NAME` in `*_file` settings (systemd's `LoadCredential=`), and `weir check`'s
/// warnings about secret files, through the real binary and a broker that checks passwords.
@Suite(.serialized) struct CredentialTests {
    /// A broker that refuses a wrong password for user `weir` (the right one is `s3cret`).
    static func passwordBroker() throws -> MosquittoBroker {
        let dir = try makeTemporaryDirectory(prefix: "weir-passwd")
        let passwords = dir.appendingPathComponent("passwd").path
        let made = try ChildProcess("/usr/bin/mosquitto_passwd", ["-b", "-c", passwords, "weir", "s3cret"]).waitForExit(timeout: 30)
        guard made == 0 else { throw TestSupportError("mosquitto_passwd failed: \(String(describing: made))") }
        return try MosquittoBroker(listenerOptions: "password_file \(passwords)")
    }

    @Test func theMQTTPasswordComesFromTheCredentialsDirectory() async throws {
        let broker = try Self.passwordBroker()
        let fixture = try BinaryFixture(name: "cred", brokerPort: broker.port, rules: ["overheat.yaml": overheatRule])
        try String(contentsOf: fixture.config, encoding: .utf8)
            .replacingOccurrences(of: "qos: 1 }", with: "qos: 1, username: weir, password_file: \"credential:mqtt-password\" }")
            .write(to: fixture.config, atomically: true, encoding: .utf8)
        let credentials = fixture.dir.appendingPathComponent("credentials")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        try "s3cret\n".write(to: credentials.appendingPathComponent("mqtt-password"), atomically: true, encoding: .utf8)

        // Outside systemd there is no credentials directory: check notes it, run refuses to start.
        let check = try runWeir(["check", "--config", fixture.config.path], in: fixture.dir)
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("note: mqtt.password_file is credential 'mqtt-password'"), "\(check.output)")
        let refused = try runWeir(["run", "--config", fixture.config.path], in: fixture.dir)
        #expect(refused.status != 0)
        #expect(refused.output.contains("CREDENTIALS_DIRECTORY is not set"), "\(refused.output)")
        #expect(refused.output.contains("LoadCredential=mqtt-password:"), "\(refused.output)")

        // With it (as systemd sets it), the password is read from there and the broker accepts it.
        let weir = try fixture.run(environment: ["CREDENTIALS_DIRECTORY": credentials.path, "PATH": "/usr/bin:/bin"])
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let alerts = try await Recorder(broker: broker, filters: ["alerts/#"])
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d1","temp":90}"#.utf8), qos: 1)
        #expect(await eventually { alerts.count == 1 })
        alerts.client.shutdown()
    }

    @Test func aWrongPasswordInTheCredentialKeepsWeirFromConnecting() async throws {
        let broker = try Self.passwordBroker()
        let fixture = try BinaryFixture(name: "badcred", brokerPort: broker.port, rules: ["overheat.yaml": overheatRule])
        try String(contentsOf: fixture.config, encoding: .utf8)
            .replacingOccurrences(of: "qos: 1 }", with: "qos: 1, username: weir, password_file: \"credential:pw\" }")
            .write(to: fixture.config, atomically: true, encoding: .utf8)
        try "wrong".write(to: fixture.dir.appendingPathComponent("pw"), atomically: true, encoding: .utf8)
        let weir = try fixture.run(environment: ["CREDENTIALS_DIRECTORY": fixture.dir.path, "PATH": "/usr/bin:/bin"])
        defer { weir.stop(signal: SIGKILL) }
        // The admin endpoint answers, but /healthz says the broker connection is down.
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz") != nil })
        #expect(Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 503)
    }

    @Test func checkWarnsAboutSecretFilesOthersCanRead() throws {
        let fixture = try BinaryFixture(name: "modes", brokerPort: 1883, rules: ["overheat.yaml": overheatRule])
        let loose = fixture.dir.appendingPathComponent("loose-password").path
        let tight = fixture.dir.appendingPathComponent("tight-token").path
        try "pw".write(toFile: loose, atomically: true, encoding: .utf8)
        try "token".write(toFile: tight, atomically: true, encoding: .utf8)
        chmod(loose, 0o644)
        chmod(tight, 0o600)
        try String(contentsOf: fixture.config, encoding: .utf8)
            .replacingOccurrences(of: "qos: 1 }", with: "qos: 1, username: weir, password_file: \(loose) }")
            .appending("upstreams:\n  cloud:\n    http: { url: \"http://127.0.0.1:1/\", token_file: \(tight) }\n")
            .write(to: fixture.config, atomically: true, encoding: .utf8)
        let check = try runWeir(["check", "--config", fixture.config.path], in: fixture.dir)
        #expect(check.status == 0, "a warning does not fail the check: \(check.output)")
        #expect(check.output.contains("\(loose): warning: secret file (mqtt.password_file) can be read by group or others (mode 0644)"))
        #expect(!check.output.contains("\(tight): warning"), "\(check.output)")
    }

    @Test func anAdminTokenFileGuardsMetricsAndCheckWarnsWithoutOneOffLoopback() async throws {
        let broker = try MosquittoBroker()
        let fixture = try BinaryFixture(name: "readtoken", brokerPort: broker.port, rules: ["overheat.yaml": overheatRule])
        let token = fixture.dir.appendingPathComponent("metrics-token").path
        try "scrape-me\n".write(toFile: token, atomically: true, encoding: .utf8)
        chmod(token, 0o600)
        let plain = try String(contentsOf: fixture.config, encoding: .utf8)
        // Off loopback with no token: a warning, and the check passes.
        try plain.replacingOccurrences(of: "listen: 127.0.0.1:", with: "listen: 0.0.0.0:").write(
            to: fixture.config, atomically: true, encoding: .utf8)
        let open = try runWeir(["check", "--config", fixture.config.path], in: fixture.dir)
        #expect(open.status == 0, "\(open.output)")
        #expect(open.output.contains("warning: admin listens on 0.0.0.0, off loopback, and no admin.token_file is set"), "\(open.output)")

        try plain.replacingOccurrences(
            of: "admin: { listen: 127.0.0.1:\(fixture.admin) }", with: "admin: { listen: 0.0.0.0:\(fixture.admin), token_file: \(token) }"
        )
        .write(to: fixture.config, atomically: true, encoding: .utf8)
        let guarded = try runWeir(["check", "--config", fixture.config.path], in: fixture.dir)
        #expect(guarded.status == 0 && !guarded.output.contains("warning"), "\(guarded.output)")
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        #expect(Loopback.httpGet(port: fixture.admin, path: "/metrics")?.status == 401)
        let wrong = Loopback.http("GET", port: fixture.admin, path: "/metrics", headers: ["Authorization": "Bearer nope"])
        #expect(wrong?.status == 401)
        let scraped = Loopback.http("GET", port: fixture.admin, path: "/metrics", headers: ["Authorization": "Bearer scrape-me"])
        #expect(scraped?.status == 200)
        #expect(scraped?.body.contains("weir_events_in_total") == true)
    }
}
