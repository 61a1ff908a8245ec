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

/// CloudEvents 1.0, structured mode, batched as a JSON array.
public enum CloudEvents {
    /// One event: `id` is `<gateway>-<sequence>`, unique and increasing per gateway so the cloud
    /// can de-duplicate at-least-once deliveries.
    public static func event(_ record: OutboxRecord, sequence: UInt64, gatewayID: String) -> JSONValue {
        .object([
            "specversion": "1.0",
            "id": .string("\(gatewayID)-\(sequence)"),
            "source": .string("weir://\(gatewayID)/\(record.rule)"),
            "type": .string(record.rule),
            "subject": .string(record.topic),
            "time": .string(rfc3339(millis: record.time)),
            "datacontenttype": "application/json",
            "data": .object(record.data),
        ])
    }

    public static func batch(_ records: [(sequence: UInt64, record: OutboxRecord)], gatewayID: String) -> [UInt8] {
        JSONWriter.bytes(.array(records.map { event($0.record, sequence: $0.sequence, gatewayID: gatewayID) }))
    }
}

/// A stored record that does not have the outbox record shape.
public struct InvalidOutboxRecord: Error, Sendable, CustomStringConvertible {
    public var description: String { "outbox record is not {rule, topic, time, data}" }
}
