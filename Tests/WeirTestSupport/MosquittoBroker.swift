import Foundation
import WeirCore

/// A real mosquitto broker on a free loopback port, for integration tests.
///
/// Persistence is on, so a broker restarted on the same directory keeps persistent sessions and the
/// QoS 1 messages queued for them, as a gateway's broker would.
public final class MosquittoBroker: @unchecked Sendable {  // process handle guarded by `lock`
    public let port: Int
    public let directory: URL
    private var process: ChildProcess?
    private let lock = NSLock()

    /// Lines added to the listener's section, e.g. TLS settings.
    public let listenerOptions: String
    /// The queue limits: the tests' generous ones, or mosquitto's own defaults (`stock`).
    public let limits: String

    /// Limits high enough that no test loses messages at the broker.
    public static let testLimits = "max_queued_messages 1000000\nmax_inflight_messages 100"
    /// mosquitto's defaults (max_queued_messages 1000, max_inflight_messages 20).
    public static let stockLimits = ""

    public init(port: Int? = nil, directory: URL? = nil, listenerOptions: String = "", limits: String = MosquittoBroker.testLimits) throws {
        self.listenerOptions = listenerOptions
        self.limits = limits
        self.port = try port ?? freeLoopbackPort()
        self.directory = try directory ?? makeTemporaryDirectory(prefix: "weir-broker")
        try start()
    }

    deinit { stop() }

    public static var executable: String {
        for path in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]
        where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        return "/usr/sbin/mosquitto"
    }

    /// Starts (or restarts) the broker and waits until it accepts connections.
    public func start() throws {
        let config = directory.appendingPathComponent("mosquitto.conf")
        let text = """
            listener \(port) 127.0.0.1
            \(listenerOptions)
            allow_anonymous true
            # Started as root, mosquitto would switch to its own user and lose access to the
            # private temp directory holding its state and certificates; as non-root this is ignored.
            user root
            persistence true
            persistence_location \(directory.path)/
            autosave_interval 1
            \(limits)
            log_dest file \(directory.path)/mosquitto.log

            """
        try text.write(to: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Self.executable, ["-c", config.path])
        lock.withLock { self.process = process }
        for _ in 0..<100 {
            if canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestSupportError("mosquitto did not start on port \(port)")
    }

    /// Stops the broker (SIGTERM, so it saves its persistent state) and waits for it to exit.
    public func stop() {
        let process = lock.withLock { () -> ChildProcess? in
            defer { self.process = nil }
            return self.process
        }
        process?.stop()
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
public func freeLoopbackPort() throws -> Int {
    guard let port = Loopback.freePort() else { throw TestSupportError("no free loopback port") }
    return port
}

func canConnect(port: Int) -> Bool {
    guard let fd = Loopback.connect(port: port) else { return false }
    close(fd)
    return true
}

/// A fresh directory under the system temp directory.
public func makeTemporaryDirectory(prefix: String) throws -> URL {
    var template = Array((NSTemporaryDirectory() + "/\(prefix).XXXXXX").utf8CString)
    guard let path = mkdtemp(&template) else { throw TestSupportError("mkdtemp failed") }
    return URL(fileURLWithPath: String(cString: path))
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Publishes `payload` at QoS 1 with `mosquitto_pub -V mqttv5` (the tests' own client sets no MQTT 5
/// properties), each of `properties` passed as `-D publish <name> <value…>`, `count` times back to
/// back on one connection; returns the exit status.
public func mosquittoPubV5(
    port: Int, topic: String, payload: String, properties: [[String]], count: Int = 1, output: String = "/dev/null"
) throws -> Int32? {
    let arguments =
        ["-h", "127.0.0.1", "-p", "\(port)", "-V", "mqttv5", "-q", "1", "-t", topic, "-m", payload, "--repeat", "\(count)"]
        + properties.flatMap { ["-D", "publish"] + $0 }
    return try ChildProcess("/usr/bin/mosquitto_pub", arguments, output: output).waitForExit(timeout: 30).map { ($0 >> 8) & 0xff }
}
