import CMosquitto
import Dispatch
import Logging
import Synchronization
import WeirCore

/// An MQTT client over libmosquitto, with its network loop on a dedicated OS thread.
///
/// `@unchecked Sendable` because the only non-Sendable member is the opaque `mosquitto` handle, and
/// libmosquitto documents its API as thread-safe once the client runs threaded
/// (`mosquitto_threaded_set`): publish/subscribe may be called from any thread while the loop runs.
/// Mutable Swift state lives in a `Mutex`. Callbacks reach `self` through the handle's userdata
/// (`Unmanaged`, unretained): `shutdown()` joins the loop thread before the handle is destroyed, and
/// the handle is destroyed before `self` goes away, so a callback never sees a dead object.
public final class MQTTClient: @unchecked Sendable {
    public typealias MessageHandler = @Sendable (Event) -> Void
    public typealias ConnectionHandler = @Sendable (MQTTConnectionEvent) -> Void

    struct State {
        var filters: Set<String> = []
        var connected = false
        var subscribed = false
        var stopping = false
        var loopFinished = false
        var subscribeMid: Int32 = -1
        var connects = 0
        var pendingAcks: [Int32: CheckedContinuation<Void, any Error>] = [:]
        var readyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public let configuration: MQTTConfiguration
    public let subscribeQoS: Int
    let handle: OpaquePointer
    let logger: Logger
    let onMessage: MessageHandler?
    let onConnection: ConnectionHandler?
    let state = Mutex(State())
    private let loopExited = DispatchSemaphore(value: 0)
    private let wakeUp = DispatchSemaphore(value: 0)
    private let startedFlag = Atomic<Bool>(false)

    /// Creates the client; nothing connects until `start()`.
    ///
    /// `onMessage` runs on the network thread with the message already copied; it may block to apply
    /// backpressure (the loop then stops reading the socket).
    public init(
        configuration: MQTTConfiguration, subscribeQoS: Int = 1, logger: Logger,
        onMessage: MessageHandler? = nil, onConnection: ConnectionHandler? = nil
    ) throws(MosquittoError) {
        _ = mosquittoLibrary
        guard let handle = mosquitto_new(configuration.clientID, configuration.cleanSession, nil) else {
            throw MosquittoError(operation: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue, message: String(cString: strerror(errno)))
        }
        self.handle = handle
        self.configuration = configuration
        self.subscribeQoS = subscribeQoS
        self.logger = logger
        self.onMessage = onMessage
        self.onConnection = onConnection
        do {
            try configure()
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
    }

    deinit {
        shutdown()
        mosquitto_destroy(handle)
    }

    private func configure() throws(MosquittoError) {
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        try mosq("mosquitto_int_option(PROTOCOL_VERSION)", mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311))
        try mosq("mosquitto_threaded_set", mosquitto_threaded_set(handle, true))
        try mosq("mosquitto_max_inflight_messages_set", mosquitto_max_inflight_messages_set(handle, UInt32(configuration.maxInflight)))
        try mosq(
            "mosquitto_reconnect_delay_set",
            mosquitto_reconnect_delay_set(handle, UInt32(configuration.reconnectDelayMin), UInt32(configuration.reconnectDelayMax), true))
        if let username = configuration.username {
            try mosq("mosquitto_username_pw_set", mosquitto_username_pw_set(handle, username, configuration.password))
        }
        if let tls = configuration.tls {
            try mosq("mosquitto_tls_set", mosquitto_tls_set(handle, tls.caFile, tls.caPath, tls.certFile, tls.keyFile, nil))
            try mosq("mosquitto_tls_insecure_set", mosquitto_tls_insecure_set(handle, tls.insecureSkipVerify))
        }
        mosquitto_connect_with_flags_callback_set(handle) { _, userdata, rc, flags in
            MQTTClient.from(userdata).handleConnect(rc: rc, sessionPresent: flags & 1 == 1)
        }
        mosquitto_disconnect_callback_set(handle) { _, userdata, rc in
            MQTTClient.from(userdata).handleDisconnect(rc: rc)
        }
        mosquitto_subscribe_callback_set(handle) { _, userdata, mid, count, granted in
            MQTTClient.from(userdata).handleSubscribe(mid: mid, granted: Array(UnsafeBufferPointer(start: granted, count: Int(count))))
        }
        mosquitto_publish_callback_set(handle) { _, userdata, mid in
            MQTTClient.from(userdata).handlePublished(mid: mid)
        }
        mosquitto_message_callback_set(handle) { _, userdata, message in
            guard let message else { return }
            MQTTClient.from(userdata).handleMessage(message.pointee)
        }
    }

    private static func from(_ userdata: UnsafeMutableRawPointer?) -> MQTTClient {
        Unmanaged<MQTTClient>.fromOpaque(userdata!).takeUnretainedValue()
    }

    // MARK: Lifecycle

    /// Starts connecting in the background; reconnects with exponential backoff until `shutdown()`.
    public func start() {
        guard !startedFlag.exchange(true, ordering: .acquiringAndReleasing) else { return }
        startOSThread(name: "weir-mqtt") { [self] in runLoop() }
    }

    private func runLoop() {
        defer { loopExited.signal() }
        var delay = configuration.reconnectDelayMin
        var first = true
        while !state.withLock({ $0.stopping }) {
            let rc: Int32
            if first {
                rc = mosquitto_connect(handle, configuration.host, Int32(configuration.port), Int32(configuration.keepAliveSeconds))
                first = false
            } else {
                rc = mosquitto_reconnect(handle)
            }
            if rc == MOSQ_ERR_SUCCESS.rawValue {
                delay = configuration.reconnectDelayMin
                // Runs until shutdown, or returns on errors libmosquitto treats as fatal (TLS, DNS).
                let loopRC = mosquitto_loop_forever(handle, 1000, 1)
                if state.withLock({ $0.stopping }) { break }
                let reason = mosquittoMessage(loopRC)
                logger.warning("MQTT network loop ended", metadata: ["error": "\(reason)", "retry_in_s": "\(delay)"])
                // A TLS handshake can fail inside the loop rather than in mosquitto_connect.
                if !state.withLock({ $0.connected }) { onConnection?(.connectFailed(reason: reason)) }
            } else {
                let reason = mosquittoMessage(rc)
                logger.warning(
                    "MQTT connect to \(configuration.host):\(configuration.port) failed",
                    metadata: ["error": "\(reason)", "retry_in_s": "\(delay)"])
                onConnection?(.connectFailed(reason: reason))
            }
            _ = wakeUp.wait(timeout: .now() + .seconds(delay))
            delay = min(delay * 2, configuration.reconnectDelayMax)
        }
    }

    /// Disconnects, stops the network thread and fails publishes still waiting for an acknowledgement.
    /// Idempotent.
    public func shutdown() {
        let (wasRunning, pending, waiters) = state.withLock { s -> (Bool, [CheckedContinuation<Void, any Error>], [CheckedContinuation<Void, Never>]) in
            if s.stopping { return (false, [], []) }
            s.stopping = true
            let pending = Array(s.pendingAcks.values)
            s.pendingAcks.removeAll()
            let waiters = s.readyWaiters
            s.readyWaiters.removeAll()
            return (true, pending, waiters)
        }
        guard wasRunning else { return }
        mosquitto_disconnect(handle)
        wakeUp.signal()
        if loopStarted { loopExited.wait() }
        for continuation in pending { continuation.resume(throwing: MQTTClientStopped()) }
        for waiter in waiters { waiter.resume() }
    }

    private var loopStarted: Bool { startedFlag.load(ordering: .acquiring) }

    /// `true` while connected to the broker.
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Waits until connected and the current filters are subscribed (or until shutdown).
    public func waitUntilReady() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s in
                if (s.connected && (s.subscribed || s.filters.isEmpty)) || s.stopping { return true }
                s.readyWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// Publishing failed because the client was shut down before the broker acknowledged.
public struct MQTTClientStopped: Error, Sendable, CustomStringConvertible {
    public var description: String { "MQTT client stopped before the broker acknowledged the message" }
}
