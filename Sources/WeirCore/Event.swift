import Glibc

/// One message taken from the broker, copied out of libmosquitto's buffers.
///
/// The payload stays raw bytes until a rule needs it: topics with no matching rule never pay for a JSON parse.
public struct Event: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retained: Bool
    /// Milliseconds since the Unix epoch when Weir received the message.
    public var receivedAt: Int64
    /// How many function hops produced this event (0 for events from devices); bounds chains.
    public var hops: Int
    /// Monotonic nanoseconds when the network thread copied the message out of libmosquitto:
    /// `weir_event_to_action_seconds` counts from here, so it includes the ingest buffer's wait.
    public var receivedNanos: UInt64
    /// The size of a payload the network thread did not copy because it was over the limit
    /// (`mqtt.max_payload`): `payload` is then empty, and the event is counted as too large
    /// without Weir ever holding the bytes. 0 otherwise.
    public var droppedPayloadBytes = 0
    /// What an MQTT 5 PUBLISH carried beside its payload (user properties, content type, expiry);
    /// nil under MQTT 3.1.1 and for events functions emit.
    public var properties: MessageProperties? {
        get { propertiesBox?.value }
        set { propertiesBox = newValue.map(PropertiesBox.init) }
    }
    /// Boxed so an event without properties, the common case, grows by one pointer, not by the
    /// properties' own size: events are copied through the ingest buffer and the router.
    private var propertiesBox: PropertiesBox?

    public init(
        topic: String, payload: [UInt8], qos: Int = 0, retained: Bool = false, receivedAt: Int64, hops: Int = 0,
        receivedNanos: UInt64 = monotonicNanos()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retained = retained
        self.receivedAt = receivedAt
        self.hops = hops
        self.receivedNanos = receivedNanos
    }
}

extension Event {
    /// What the event holds in memory, as ingest's byte bound counts it: payload, topic and the
    /// strings of its MQTT 5 properties.
    public var bufferedBytes: Int { payload.count + topic.utf8.count + (properties?.bytes ?? 0) }

    /// Whether the publisher's message expiry interval has run out while the event waited in Weir
    /// (the broker already dropped it if it ran out there). The clock is read only for an event
    /// that has an expiry: the router asks for every event.
    public func isExpired(atNanos now: UInt64? = nil) -> Bool {
        guard let expiry = properties?.expirySeconds else { return false }
        return (now ?? monotonicNanos()) >= receivedNanos &+ UInt64(expiry) * 1_000_000_000
    }
}

/// The MQTT 5 properties of a received message that rules and ingest use, copied out of
/// libmosquitto's property list inside the message callback.
public struct MessageProperties: Sendable, Equatable {
    /// User properties in the order they came (MQTT allows a name more than once).
    public var user: [UserProperty] = []
    /// The Content Type property (`application/json`, ...).
    public var contentType: String?
    /// The Payload Format Indicator: true when the publisher declared the payload UTF-8 text.
    public var payloadIsUTF8 = false
    /// The Message Expiry Interval as the broker forwarded it: the seconds left when it was sent.
    public var expirySeconds: UInt32?

    public init(user: [UserProperty] = [], contentType: String? = nil, payloadIsUTF8: Bool = false, expirySeconds: UInt32? = nil) {
        self.user = user
        self.contentType = contentType
        self.payloadIsUTF8 = payloadIsUTF8
        self.expirySeconds = expirySeconds
    }

    /// The first value of the user property `name`, or nil.
    public func userProperty(_ name: String) -> String? {
        user.first { $0.name == name }?.value
    }

    /// The bytes the properties' strings hold, for the ingest buffer's byte bound.
    public var bytes: Int {
        user.reduce(contentType?.utf8.count ?? 0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
    }

    /// Whether `contentType` names JSON: `application/json`, `text/json` or a `+json` suffix,
    /// parameters such as `; charset=utf-8` aside. Rules of `format: json` read JSON payloads only.
    public var declaresJSON: Bool {
        guard let contentType else { return true }
        let type = String(contentType.split(separator: ";", maxSplits: 1).first ?? "").trimmingScalars { $0 == " " }.lowercased()
        return type == "application/json" || type == "text/json" || type.hasSuffix("+json")
    }
}

/// Immutable storage for an event's properties (see `Event.properties`).
final class PropertiesBox: Sendable {
    let value: MessageProperties
    init(_ value: MessageProperties) { self.value = value }
}

/// One MQTT 5 user property: a name and value pair.
public struct UserProperty: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Wall-clock milliseconds since the Unix epoch.
public func currentTimeMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Monotonic nanoseconds, for durations and latency.
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
