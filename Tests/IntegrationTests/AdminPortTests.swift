import Foundation
import Glibc
import Testing
import WeirCore
import WeirDaemon
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

/// Idle connections cannot hold the admin endpoint (issue 11): a connection that sends no request
/// is closed after 10 s, and past 64 open ones a new connection is closed at once.
@Suite(.serialized) struct AdminConnectionTests {
    /// Whether the server closed `fd` within `seconds` (recv returns 0), as opposed to keeping it
    /// open; waits on a thread of its own, not on the cooperative pool.
    static func closedByServer(_ fd: Int32, within seconds: Int) async -> Bool {
        await BlockingThreads.shared.run {
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0) == 0
        }
    }

    @Test func idleConnectionsAreCappedAndClosed() async throws {
        let broker = try MosquittoBroker()
        let fixture = try BinaryFixture(name: "adminidle", brokerPort: broker.port, rules: ["overheat.yaml": overheatRule])
        let weir = try fixture.run()
        defer { weir.stop(signal: SIGKILL) }
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
        let idle = (0..<64).compactMap { _ in AdminClient.connect(port: fixture.admin) }
        defer { for fd in idle { close(fd) } }
        #expect(idle.count == 64)
        let extra = try #require(AdminClient.connect(port: fixture.admin))
        defer { close(extra) }
        #expect(await Self.closedByServer(extra, within: 5), "the 65th connection is closed at once")
        // The idle ones are closed once their request time is up; then the endpoint answers again.
        #expect(await Self.closedByServer(idle[0], within: 30))
        #expect(await eventually(timeout: .seconds(30)) { Loopback.httpGet(port: fixture.admin, path: "/healthz")?.status == 200 })
    }
}
