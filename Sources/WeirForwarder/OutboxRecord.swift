import WeirCore

/// A forwarded row: what the outbox stores (as `StoredRow` bytes); the CloudEvent is completed at
/// send time, when the sequence number (and so the event id) is known.
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

    /// The stored form: row format 2, the CloudEvent's pieces ready to splice (`StoredRow`).
    public func encoded() -> [UInt8] { StoredRow.encode(self) }

    /// Row format 1, what Weir stored before format 2 (`JSONWriter.bytes(json)`); still read.
    public func legacyEncoded() -> [UInt8] { JSONWriter.bytes(json) }

    /// `{rule, topic, time, data}`: the form of a row in dead letters (and row format 1).
    public var json: JSONValue { ["rule": .string(rule), "topic": .string(topic), "time": .int(time), "data": .object(data)] }

    /// Reads a stored row of either format: format 2 (first byte 2) or format 1 (JSON, first byte `{`).
    public init(decoding bytes: [UInt8]) throws {
        if bytes.first == StoredRow.version {
            self = try StoredRow.decode(bytes)
        } else {
            try self.init(json: try JSONParser.parse(bytes, maxDepth: JSONParser.storedMaxDepth))
        }
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
