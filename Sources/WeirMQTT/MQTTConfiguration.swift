/// How to reach an MQTT broker.
public struct MQTTConfiguration: Sendable, Equatable {
    public struct TLS: Sendable, Equatable {
        public var caFile: String?
        public var caPath: String?
        public var certFile: String?
        public var keyFile: String?
        /// Certificate verification is on unless an operator turns it off explicitly.
        public var insecureSkipVerify: Bool

        public init(
            caFile: String? = nil, caPath: String? = nil, certFile: String? = nil, keyFile: String? = nil, insecureSkipVerify: Bool = false
        ) {
            self.caFile = caFile
            self.caPath = caPath
            self.certFile = certFile
            self.keyFile = keyFile
            self.insecureSkipVerify = insecureSkipVerify
        }
    }

    public var host: String
    public var port: Int
    public var clientID: String
    public var username: String?
    public var password: String?
    public var keepAliveSeconds: Int
    /// `false` keeps a persistent session: the broker queues QoS 1/2 messages while Weir is away.
    public var cleanSession: Bool
    public var tls: TLS?
    public var reconnectDelayMin: Int
    public var reconnectDelayMax: Int
    /// Outgoing QoS 1/2 messages in flight at once (libmosquitto queues the rest).
    public var maxInflight: Int
    /// Received payloads larger than this are not copied out of libmosquitto: the event arrives
    /// with an empty payload and `droppedPayloadBytes` set (`mqtt.max_payload`).
    public var maxPayloadBytes = Int.max
    /// The MQTT version spoken: 3.1.1 unless an operator opts in to 5.
    public var protocolVersion = MQTTProtocolVersion.v311
    /// MQTT 5: how long the broker keeps the session after a disconnect (CONNECT's Session Expiry
    /// Interval). Under 5 a persistent session ends at the disconnect unless this is set.
    public var sessionExpirySeconds: UInt32 = 7 * 86_400
    /// MQTT 5: the QoS 1/2 messages the broker may have unacknowledged to this client at once
    /// (CONNECT's Receive Maximum, 1...65535).
    public var receiveMaximum = 1000
    /// MQTT 5: the largest packet the broker may send (CONNECT's Maximum Packet Size); nil: no limit.
    public var maximumPacketSize: UInt32?
    /// Subscribe to `$share/<group>/<filter>` instead of each filter: the broker splits the
    /// messages among the group's members.
    public var shareGroup: String?

    public init(
        host: String = "127.0.0.1", port: Int = 1883, clientID: String, username: String? = nil,
        password: String? = nil, keepAliveSeconds: Int = 30, cleanSession: Bool = false, tls: TLS? = nil,
        reconnectDelayMin: Int = 1, reconnectDelayMax: Int = 30, maxInflight: Int = 100
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.username = username
        self.password = password
        self.keepAliveSeconds = keepAliveSeconds
        self.cleanSession = cleanSession
        self.tls = tls
        self.reconnectDelayMin = reconnectDelayMin
        self.reconnectDelayMax = reconnectDelayMax
        self.maxInflight = maxInflight
    }
}

/// The MQTT protocol version a client speaks.
public enum MQTTProtocolVersion: Sendable, Equatable {
    case v311
    case v5
}

/// Connection changes reported by `MQTTClient`, for logs, metrics and readiness.
public enum MQTTConnectionEvent: Sendable, Equatable {
    case connected(sessionPresent: Bool)
    case subscribed(filters: Int)
    case disconnected(reason: String)
    case connectFailed(reason: String)
}
