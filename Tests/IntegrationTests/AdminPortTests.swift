import Foundation
import Glibc
import Testing
import WeirCore
import WeirTestSupport

/// The real `weir run` with its admin port taken by another program (issue 11): ingest runs
/// anyway, the bind is retried, and the endpoint comes up once the port is free.
@Suite(.serialized) struct AdminPortTests {
    /// A socket listening on 127.0.0.1:`port`, as another program on the gateway would hold it.
    static func occupy(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 4) == 0 else { throw TestSupportError("cannot occupy port \(port)") }
        return fd
    }

    @Test func aTakenAdminPortDoesNotStopIngestAndIsRetried() async throws {
        let broker = try MosquittoBroker()
        let fixture = try BinaryFixture(name: "adminport", brokerPort: broker.port, rules: ["overheat.yaml": overheatRule])
        let blocker = try Self.occupy(fixture.admin)
        var blocked = true
        defer { if blocked { close(blocker) } }
        let alerts = try await Recorder(broker: broker, filters: ["alerts/#"])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        let log = fixture.dir.appendingPathComponent("weir.log").path
        func logged(_ text: String) -> Bool { (try? String(contentsOfFile: log, encoding: .utf8))?.contains(text) ?? false }
        #expect(await eventually(timeout: .seconds(30)) { logged("admin server cannot listen; retrying") })
        let pub = try await publisher(broker)
        defer { pub.shutdown() }
        try await pub.publish(topic: "sensors/s1/telemetry", payload: Array(#"{"device":"d1","temp":91}"#.utf8), qos: 1)
        #expect(await eventually(timeout: .seconds(30)) { alerts.count == 1 }, "events are routed without the admin endpoint")
        #expect(!weir.hasExited)
        close(blocker)
        blocked = false
        #expect(await eventually(timeout: .seconds(45)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        alerts.client.shutdown()
    }
}
