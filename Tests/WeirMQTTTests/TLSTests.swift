import Foundation
import Logging
import Testing
import WeirCore
import WeirTestSupport

@testable import WeirMQTT

/// Runs openssl with `arguments` in `directory`, failing the test if it fails.
func openssl(_ arguments: [String], in directory: URL) throws {
    let log = directory.appendingPathComponent("openssl.log").path
    let process = try ChildProcess("/usr/bin/openssl", arguments, output: log)
    guard process.waitForExit(timeout: 30) == 0 else {
        throw TestSupportError(
            "openssl \(arguments.joined(separator: " ")) failed: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}

/// A CA that signs a server certificate for 127.0.0.1 and a client certificate.
func makeCertificates(in dir: URL, caName: String = "ca") throws {
    let p = dir.path
    try openssl(
        [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=weir-test-\(caName)",
            "-keyout", "\(p)/\(caName).key", "-out", "\(p)/\(caName).pem",
        ], in: dir)
    try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: "\(p)/san.ext", atomically: true, encoding: .utf8)
    for name in ["server", "client"] {
        try openssl(
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name == "server" ? "127.0.0.1" : "weir-client")",
                "-keyout", "\(p)/\(name).key", "-out", "\(p)/\(name).csr",
            ], in: dir)
        try openssl(
            [
                "x509", "-req", "-in", "\(p)/\(name).csr", "-CA", "\(p)/\(caName).pem", "-CAkey", "\(p)/\(caName).key",
                "-CAcreateserial", "-days", "2", "-extfile", "\(p)/san.ext", "-out", "\(p)/\(name).pem",
            ], in: dir)
    }
}

@Suite(.serialized) struct TLSTests {
    @Test func mutualTLSConnectsAndAWrongCAIsRefused() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            Issue.record("openssl is needed for the TLS test (apt-get install openssl)")
            return
        }
        let dir = try makeTemporaryDirectory(prefix: "weir-tls")
        try makeCertificates(in: dir)
        let other = dir.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try makeCertificates(in: other, caName: "otherca")
        let p = dir.path
        let broker = try MosquittoBroker(
            listenerOptions: """
                cafile \(p)/ca.pem
                certfile \(p)/server.pem
                keyfile \(p)/server.key
                require_certificate true
                """)

        let good = try MQTTClient(
            configuration: MQTTConfiguration(
                port: broker.port, clientID: "tls-good",
                tls: .init(caFile: "\(p)/ca.pem", certFile: "\(p)/client.pem", keyFile: "\(p)/client.key")),
            logger: Logger(label: "tls"))
        good.start()
        defer { good.shutdown() }
        #expect(await eventually { good.isConnected }, "mutual TLS with the right CA connects")
        try await good.publish(topic: "tls/x", payload: Array("ok".utf8), qos: 1)

        // Verification is on by default: a broker certificate from another CA is refused.
        let failures = Inbox()
        let wrong = try MQTTClient(
            configuration: MQTTConfiguration(
                port: broker.port, clientID: "tls-wrong",
                tls: .init(caFile: "\(other.path)/otherca.pem", certFile: "\(p)/client.pem", keyFile: "\(p)/client.key"),
                reconnectDelayMin: 1, reconnectDelayMax: 1),
            logger: Logger(label: "tls"),
            onConnection: { change in
                if case .connectFailed = change { failures.add(Event(topic: "failed", payload: [], receivedAt: 0)) }
            })
        wrong.start()
        defer { wrong.shutdown() }
        #expect(await eventually { failures.count > 0 })
        #expect(!wrong.isConnected)
    }
}

/// libmosquitto refusing a setting while the client is being made (here a CA file that does not
/// exist) is an error for the caller, and frees the handle exactly once: this used to be a
/// double free (the initializer and deinit both destroyed it), which aborted the process.
@Test func aRefusedTLSFileIsAnErrorNotACrash() {
    for attempt in 0..<20 {
        #expect(throws: MosquittoError.self) {
            _ = try MQTTClient(
                configuration: MQTTConfiguration(
                    port: 1, clientID: "tls-refused-\(attempt)", tls: .init(caFile: "/nonexistent/weir-ca-\(attempt).pem")),
                logger: Logger(label: "tls"))
        }
    }
}
