import CMosquitto
import Glibc
import WeirCore

// MQTT 5: the CONNECT properties Weir sends, the properties it reads from each PUBLISH, and what a
// PUBACK's reason code means.
extension MQTTClient {
    /// Receive Maximum through libmosquitto's option (it puts the property on CONNECT and counts
    /// the broker's in-flight messages against it); session expiry and maximum packet size as
    /// CONNECT properties of our own.
    func configureV5() throws(MosquittoError) {
        let receiveMaximum = Int32(min(max(configuration.receiveMaximum, 1), 65_535))
        try mosq("mosquitto_int_option(RECEIVE_MAXIMUM)", mosquitto_int_option(handle, MOSQ_OPT_RECEIVE_MAXIMUM, receiveMaximum))
        // A clean session is meant to end at the disconnect: expiry 0, the protocol's default.
        if !configuration.cleanSession, configuration.sessionExpirySeconds > 0 {
            try mosq(
                "mosquitto_property_add_int32(SESSION_EXPIRY_INTERVAL)",
                mosquitto_property_add_int32(
                    &connectProperties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), configuration.sessionExpirySeconds))
        }
        if let size = configuration.maximumPacketSize {
            try mosq(
                "mosquitto_property_add_int32(MAXIMUM_PACKET_SIZE)",
                mosquitto_property_add_int32(&connectProperties, Int32(MQTT_PROP_MAXIMUM_PACKET_SIZE.rawValue), size))
        }
    }

    /// The first connection attempt; libmosquitto keeps the CONNECT properties for every reconnect.
    func connectFirst() -> Int32 {
        let (host, port, keepalive) = (configuration.host, Int32(configuration.port), Int32(configuration.keepAliveSeconds))
        guard configuration.protocolVersion == .v5 else { return mosquitto_connect(handle, host, port, keepalive) }
        return mosquitto_connect_bind_v5(handle, host, port, keepalive, nil, connectProperties)
    }

    /// The name subscribed for `filter`: the filter itself, or `$share/<group>/<filter>`.
    func subscriptionName(_ filter: String) -> String {
        guard let group = configuration.shareGroup else { return filter }
        return "$share/\(group)/\(filter)"
    }

    /// Copies what rules and ingest use out of a PUBLISH's property list (nil when it has none of
    /// it). libmosquitto owns the list; the strings its readers return are ours to free.
    static func messageProperties(_ list: OpaquePointer?) -> MessageProperties? {
        guard let list else { return nil }
        var properties = MessageProperties()
        var name: UnsafeMutablePointer<CChar>?
        var value: UnsafeMutablePointer<CChar>?
        let user = Int32(MQTT_PROP_USER_PROPERTY.rawValue)
        var next = mosquitto_property_read_string_pair(list, user, &name, &value, false)
        while next != nil {
            if let name, let value { properties.user.append(UserProperty(name: String(cString: name), value: String(cString: value))) }
            free(name)
            free(value)
            (name, value) = (nil, nil)
            next = mosquitto_property_read_string_pair(next, user, &name, &value, true)
        }
        if mosquitto_property_read_string(list, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), &value, false) != nil, let value {
            properties.contentType = String(cString: value)
            free(value)
        }
        var format: UInt8 = 0
        if mosquitto_property_read_byte(list, Int32(MQTT_PROP_PAYLOAD_FORMAT_INDICATOR.rawValue), &format, false) != nil {
            properties.payloadIsUTF8 = format == 1
        }
        var expiry: UInt32 = 0
        if mosquitto_property_read_int32(list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), &expiry, false) != nil {
            properties.expirySeconds = expiry
        }
        return properties == MessageProperties() ? nil : properties
    }
}

/// The broker answered a QoS 1 publish with a PUBACK whose reason code is a failure (0x80 and up,
/// MQTT 5 only): the message was not accepted.
public struct MQTTPublishRefused: Error, Sendable, CustomStringConvertible {
    public var reasonCode: Int32

    public init(reasonCode: Int32) { self.reasonCode = reasonCode }

    /// Codes that say "not now" rather than "never": unspecified, implementation specific, packet
    /// identifier in use, quota exceeded. The rest (not authorized, topic name invalid, payload
    /// format invalid, ...) fail again on every retry.
    public static let retryableCodes: Set<Int32> = [0x80, 0x83, 0x91, 0x97]

    public var isRetryable: Bool { Self.retryableCodes.contains(reasonCode) }

    /// `PUBACK 0x87 Not authorized`: the code as the specification numbers it, and its name.
    public var description: String {
        "PUBACK 0x\(hexByte(UInt8(truncatingIfNeeded: reasonCode)).uppercased()) \(String(cString: mosquitto_reason_string(reasonCode)))"
    }
}
