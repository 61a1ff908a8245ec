import WeirCore

/// What the outbox stores per forwarded row; the CloudEvent is built from it at send time, when
/// the sequence number (and so the event id) is known.
public struct OutboxRecord: Sendable, Equatable {
    public var rule: String
    public var topic: String
    /// When the triggering event was received, ms since the epoch.
    public var time: Int64
    public var data: JSONObject

    public init(rule: String, topic: String, time: Int64, data: JSONObject) {
        self.rule = rule
        self.topic = topic
        self.time = time
        self.data = data
    }

    public func encoded() -> [UInt8] { JSONWriter.bytes(json) }

    /// `{rule, topic, time, data}`: the stored form, also used in dead letters.
    public var json: JSONValue { ["rule": .string(rule), "topic": .string(topic), "time": .int(time), "data": .object(data)] }

    public init(decoding bytes: [UInt8]) throws {
        try self.init(json: try JSONParser.parse(bytes))
    }

    public init(json value: JSONValue) throws {
        guard case .string(let rule)? = value["rule"], case .string(let topic)? = value["topic"],
            case .int(let time)? = value["time"], case .object(let data)? = value["data"]
        else { throw InvalidOutboxRecord() }
        self.init(rule: rule, topic: topic, time: time, data: data)
    }
}

/// A stored record that does not have the outbox record shape.
public struct InvalidOutboxRecord: Error, Sendable, CustomStringConvertible {
    public var description: String { "outbox record is not {rule, topic, time, data}" }
}
