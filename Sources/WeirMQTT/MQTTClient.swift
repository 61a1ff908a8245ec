import CMosquitto
import Dispatch
import Glibc
import Logging
import Synchronization
import WeirCore

/// An MQTT client over libmosquitto, with Weir's own network loop on a dedicated OS thread.
///
/// The loop (`MQTTClient+Loop.swift`) polls the client's socket and a wake pipe of Weir's own,
/// reads a batch of packets, hands the batch on and, when a batch handler is set, waits for the
/// batch's `Settlement` before anything is written back: libmosquitto queues the PUBACK of a QoS 1
/// message before the message callback runs, and with the client marked threaded the PUBACK leaves
/// only in `mosquitto_loop_write`. So a message is acknowledged to the broker only once what it
/// triggered is durable.
///
/// `@unchecked Sendable` because the only non-Sendable members are the opaque `mosquitto` handle,
/// which libmosquitto documents as thread-safe once the client is marked threaded
/// (`mosquitto_threaded_set`): publish/subscribe may be called from any thread while the loop runs;
/// `inbox`, which only the loop thread touches (callbacks run inside its `loop_read`); and
/// `connectProperties`, written only while the client is made and freed in deinit.
/// Mutable shared state lives in a `Mutex`. Callbacks reach `self` through the handle's userdata
/// (`Unmanaged`, unretained): `shutdown()` joins the loop thread before the handle is destroyed,
/// and the handle is destroyed before `self` goes away, so a callback never sees a dead object.
public final class MQTTClient: @unchecked Sendable {
    /// Receives each message on the network thread; its acknowledgement is sent once it returns.
    public typealias MessageHandler = @Sendable (Event) -> Void
    /// Receives a batch of messages on the network thread and returns what settles them (nil:
    /// settled already). The batch's acknowledgements wait for it.
    public typealias BatchHandler = @Sendable ([Event]) -> Settlement?
    public typealias ConnectionHandler = @Sendable (MQTTConnectionEvent) -> Void

    struct State {
        var filters: Set<String> = []
        var connected = false
        var subscribed = false
        var stopping = false
        var subscribeMid: Int32 = -1
        var connects = 0
        var pendingAcks: [Int32: AsyncLatch<Void>] = [:]
        /// Opened (and replaced by a closed one) each time the client becomes ready, and for good
        /// on shutdown: whoever found the client not ready waits on the current one.
        var ready = AsyncLatch<Void>()
        /// Set when a batch could not be settled: the connection was dropped unacknowledged and
        /// is not made again until `canConnect` allows it.
        var paused: String?
    }

    public let configuration: MQTTConfiguration
    public let subscribeQoS: Int
    let handle: OpaquePointer
    let logger: Logger
    let onBatch: BatchHandler?
    let onConnection: ConnectionHandler?
    /// Whether connecting is allowed now (the store is writable again after a fault).
    let canConnect: (@Sendable () -> Bool)?
    /// Most messages read before a batch is handed on.
    let maxBatch: Int
    /// Most payload and topic bytes read before a batch is handed on (the last message may pass it).
    let maxBatchBytes: Int
    let state = Mutex(State())
    let wake: WakePipe
    /// Messages read in the current `loop_read` calls; only the loop thread touches it.
    nonisolated(unsafe) var inbox: [Event] = []
    /// Payload and topic bytes in `inbox`; only the loop thread touches it.
    nonisolated(unsafe) var inboxBytes = 0
    /// MQTT 5 CONNECT properties (session expiry, maximum packet size), built once; libmosquitto
    /// copies them at the first connect and sends them again on each reconnect. Freed in deinit.
    nonisolated(unsafe) var connectProperties: OpaquePointer?
    private let loopExited = DispatchSemaphore(value: 0)
    private let startedFlag = Atomic<Bool>(false)

    /// Creates the client; nothing connects until `start()`.
    ///
    /// - Parameters:
    ///   - onMessage: per message, acknowledged once it returns (it may block to apply
    ///     backpressure: the loop then stops reading the socket).
    ///   - onBatch: per batch of at most `maxBatch` messages, acknowledged once the returned
    ///     settlement completes; takes precedence over `onMessage`.
    ///   - canConnect: asked before each connection attempt after a batch could not be settled.
    public init(
        configuration: MQTTConfiguration, subscribeQoS: Int = 1, logger: Logger,
        onMessage: MessageHandler? = nil, onBatch: BatchHandler? = nil, maxBatch: Int = 1000, maxBatchBytes: Int = .max,
        canConnect: (@Sendable () -> Bool)? = nil, onConnection: ConnectionHandler? = nil
    ) throws(MosquittoError) {
        _ = mosquittoLibrary
        guard let handle = mosquitto_new(configuration.clientID, configuration.cleanSession, nil) else {
            throw MosquittoError(operation: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue, message: String(cString: strerror(errno)))
        }
        guard let wake = WakePipe() else {
            mosquitto_destroy(handle)
            throw MosquittoError(operation: "socketpair", code: MOSQ_ERR_ERRNO.rawValue, message: String(cString: strerror(errno)))
        }
        self.wake = wake
        self.handle = handle
        self.configuration = configuration
        self.subscribeQoS = subscribeQoS
        self.logger = logger
        if let onBatch {
            self.onBatch = onBatch
        } else if let onMessage {
            self.onBatch = { events in
                for event in events { onMessage(event) }
                return nil
            }
        } else {
            self.onBatch = nil
        }
        self.maxBatch = max(1, maxBatch)
        self.maxBatchBytes = max(1, maxBatchBytes)
        self.canConnect = canConnect
        self.onConnection = onConnection
        // No mosquitto_destroy here when configure() throws: every stored property is set by then,
        // so Swift runs deinit for the half-made client, and deinit destroys the handle (twice
        // would be a double free).
        try configure()
    }

    deinit {
        shutdown()
        mosquitto_destroy(handle)
        mosquitto_property_free_all(&connectProperties)
    }

    private func configure() throws(MosquittoError) {
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        let version = configuration.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try mosq("mosquitto_int_option(PROTOCOL_VERSION)", mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, version))
        if configuration.protocolVersion == .v5 { try configureV5() }
        // Marked threaded although Weir runs the loop itself: packets are then only queued by
        // libmosquitto (never written from inside a callback or another thread), and leave in
        // the loop's own mosquitto_loop_write, after the batch's settlement.
        try mosq("mosquitto_threaded_set", mosquitto_threaded_set(handle, true))
        try mosq("mosquitto_max_inflight_messages_set", mosquitto_max_inflight_messages_set(handle, UInt32(configuration.maxInflight)))
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
        // The _v5 callbacks under 3.1.1 too (no properties, reason code 0): one path for both.
        mosquitto_publish_v5_callback_set(handle) { _, userdata, mid, reasonCode, _ in
            MQTTClient.from(userdata).handlePublished(mid: mid, reasonCode: reasonCode)
        }
        mosquitto_message_v5_callback_set(handle) { _, userdata, message, properties in
            guard let message else { return }
            MQTTClient.from(userdata).handleMessage(message.pointee, properties: properties)
        }
    }

    private static func from(_ userdata: UnsafeMutableRawPointer?) -> MQTTClient {
        Unmanaged<MQTTClient>.fromOpaque(userdata!).takeUnretainedValue()
    }

    // MARK: Lifecycle

    /// Starts connecting in the background; reconnects until `shutdown()`. When the system
    /// refuses the network thread (task limits), the client is logged as failed and behaves as
    /// stopped: it never connects, and its operations fail with `MQTTClientStopped`.
    public func start() {
        guard !startedFlag.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let started = tryStartOSThread(name: "weir-mqtt") { [self] in
            runLoop()
            loopExited.signal()
        }
        guard !started else { return }
        logger.critical(
            "MQTT client cannot run: \(ThreadStartFailed(name: "weir-mqtt"))",
            metadata: ["broker": "\(configuration.host):\(configuration.port)"])
        let ready = state.withLock { s in
            s.stopping = true
            return s.ready
        }
        loopExited.signal()
        ready.complete(.success(()))
    }

    /// Stops the network loop: a batch being settled is settled (or abandoned unacknowledged)
    /// first, then the client disconnects; publishes still waiting for an acknowledgement fail.
    /// Idempotent.
    public func shutdown() {
        let (wasRunning, pending, ready) = state.withLock { s -> (Bool, [AsyncLatch<Void>], AsyncLatch<Void>?) in
            if s.stopping { return (false, [], nil) }
            s.stopping = true
            let pending = Array(s.pendingAcks.values)
            s.pendingAcks.removeAll()
            return (true, pending, s.ready)
        }
        guard wasRunning else { return }
        wake.signal()
        if startedFlag.load(ordering: .acquiring) { loopExited.wait() }
        for latch in pending { latch.complete(.failure(MQTTClientStopped())) }
        ready?.complete(.success(()))
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// `true` while connected to the broker.
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Why the client stopped connecting (a batch could not be settled), or nil.
    public var pausedReason: String? { state.withLock { $0.paused } }

    /// Waits until connected and the current filters are subscribed (or until shutdown).
    public func waitUntilReady() async {
        // Never a failure: the latch only opens.
        try? await notReady?.value
    }

    /// Waits until connected and subscribed (as `waitUntilReady`), for at most `timeout`. A
    /// stopping client never connects again: then it waits the whole `timeout`, so a caller that
    /// retries on its return does not spin.
    public func waitUntilConnected(timeout: Duration) async {
        if let latch = notReady {
            await latch.wait(timeout: timeout)
        } else if state.withLock({ $0.stopping }) {
            try? await Task.sleep(for: timeout)
        }
    }

    /// The latch that opens when the client is next ready, or nil when it is ready (or stopping) now.
    private var notReady: AsyncLatch<Void>? {
        state.withLock { s in
            if (s.connected && (s.subscribed || s.filters.isEmpty)) || s.stopping { return nil }
            return s.ready
        }
    }
}

/// Publishing failed because the client was shut down before the broker acknowledged.
public struct MQTTClientStopped: UnsettledError, Sendable, CustomStringConvertible {
    public var description: String { "MQTT client stopped before the broker acknowledged the message" }
}
