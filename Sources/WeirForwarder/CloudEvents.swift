import WeirCore

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
