import WeirActions
import WeirCore
import WeirMQTT
import WeirStore

/// The daemon's configuration, read from `/etc/weir/weir.yaml`.
public struct WeirConfig: Sendable {
    public struct MQTT: Sendable {
        public var host = "127.0.0.1"
        public var port = 1883
        public var clientID: String?
        public var username: String?
        public var passwordFile: String?
        public var qos = 1
        public var cleanSession = false
        public var keepAliveSeconds = 30
        public var tls: MQTTConfiguration.TLS?
        /// Events buffered between the network thread and the rule engine before the reader slows.
        public var buffer = 1024
        /// Payload and topic bytes buffered there before the reader slows (a single larger event
        /// still passes, alone).
        public var bufferBytes = 16 << 20
        /// Larger payloads are counted as invalid and skipped.
        public var maxPayloadBytes = 256 * 1024
        /// When a message is acknowledged to the broker.
        public var ack = AckMode.durable
        /// `protocol: 5` opts in to MQTT 5; 3.1.1 stays the default, which every broker speaks.
        public var protocolVersion = MQTTProtocolVersion.v311
        /// MQTT 5: how long the broker keeps the persistent session after a disconnect.
        public var sessionExpiry: Duration = .seconds(7 * 86_400)
        /// MQTT 5: the QoS 1 messages the broker may have unacknowledged to Weir at once; with
        /// `ack: durable` this, not the broker's max_inflight_messages, bounds the batch in flight.
        public var receiveMaximum = 1000
        /// Subscribe every filter as `$share/<group>/<filter>`: instances with the same group split the events.
        public var shareGroup: String?

        public init() {}

        /// The QoS subscribed at: `ack: durable` cannot hold a QoS 2 acknowledgement back (the
        /// PUBREC leaves before the message is delivered), so it subscribes at QoS 1.
        public var effectiveQoS: Int { ack == .durable ? min(qos, 1) : qos }

        /// MQTT 5's Maximum Packet Size on CONNECT: `max_payload` plus room for the topic (at most
        /// 64 KiB) and properties. The broker then never sends a packet Weir would refuse anyway,
        /// and libmosquitto never allocates one (it reads a whole packet before the callback).
        public var maximumPacketSize: UInt32 { UInt32(min(maxPayloadBytes + WeirConfig.packetOverheadBytes, 268_435_455)) }
    }

    /// What Maximum Packet Size allows beyond `max_payload`: the topic (up to 64 KiB), the packet's
    /// header and its properties.
    public static let packetOverheadBytes = 128 * 1024

    /// When Weir acknowledges a message to the broker.
    public enum AckMode: String, Sendable {
        /// Once everything the message triggered is durable or settled for good (the default).
        case durable
        /// As soon as it is read (more throughput; what is in memory at a crash is lost).
        case receipt
    }

    public struct Admin: Sendable {
        /// `nil` turns the admin server off.
        public var host: String? = "127.0.0.1"
        public var port = 9110
        /// A bearer token `/metrics` then asks for (`admin.token_file`): for an address off loopback.
        public var readTokenFile: String?

        /// Whether `host` is a loopback address (only local clients reach it).
        public var isLoopbackOnly: Bool {
            guard let host else { return true }
            return host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }

        public init() {}
    }

    /// Unique per machine unless set (`MachineIdentity`): names the gateway upstream and, through
    /// the default client id, its broker session.
    public var gatewayID = MachineIdentity.defaultGatewayID
    public var rulesDir = "/etc/weir/rules"
    public var stateDir = "/var/lib/weir"
    public var logLevel = "info"
    public var mqtt = MQTT()
    public var pool = ActionPool.Configuration()
    public var admin = Admin()
    /// Where `forward` actions send rows, by name.
    public var upstreams: [UpstreamConfig] = []
    /// Minimum time between outbox fsyncs. Zero: each fsync covers every append that arrived during
    /// the previous one. A few ms caps fsyncs per second (flash wear) at the cost of append rate.
    public var commitInterval: Duration = .zero
    /// How many functions in a row (`emit` feeding a rule that calls a function that emits…) an
    /// event may pass through; further events are stopped and counted.
    public var maxHops = 8
    /// Caps on the dead-letter store (by default 256 MiB and 100,000 letters); past them the
    /// oldest letters are dropped.
    public var deadLetters = DeadLetterLimits()
    /// How long a graceful stop may take before in-flight work is cancelled.
    public var shutdownTimeout: Duration = .seconds(10)
    /// How often the rules directory is checked for changes; zero turns watching off (SIGHUP still works).
    public var rulesWatchInterval: Duration = .seconds(2)
    /// Where the configuration was read from, for messages.
    public var path = "<defaults>"

    public init() {}

    /// The MQTT client id: configured, or derived from the gateway id so it is stable across restarts
    /// (a persistent session needs a stable id).
    public var effectiveClientID: String { mqtt.clientID ?? "weir-\(gatewayID)" }
}
