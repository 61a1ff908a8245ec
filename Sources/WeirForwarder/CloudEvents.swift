import WeirCore

/// CloudEvents 1.0, structured mode, batched as a JSON array.
public enum CloudEvents {
    /// One event: `id` is `<gateway>-<sequence>` (`<gateway>-high-<sequence>` and
    /// `<gateway>-low-<sequence>` for the other priority classes, whose sequences count apart),
    /// unique and increasing per gateway and class so the cloud can de-duplicate at-least-once deliveries.
    public static func event(_ record: OutboxRecord, sequence: UInt64, gatewayID: String, priority: OutboxPriority = .normal) -> JSONValue {
        .object([
            "specversion": "1.0",
            "id": .string("\(gatewayID)-\(classInfix(priority))\(sequence)"),
            "source": .string("weir://\(gatewayID)/\(record.rule)"),
            "type": .string(record.rule),
            "subject": .string(record.topic),
            "time": .string(rfc3339(millis: record.time)),
            "datacontenttype": "application/json",
            "data": .object(record.data),
        ])
    }

    public static func batch(
        _ records: [(sequence: UInt64, record: OutboxRecord)], gatewayID: String, priority: OutboxPriority = .normal
    ) -> [UInt8] {
        JSONWriter.bytes(.array(records.map { event($0.record, sequence: $0.sequence, gatewayID: gatewayID, priority: priority) }))
    }

    /// What comes between the gateway and the sequence in an id: nothing for the normal class
    /// (ids as they were before classes existed), `high-` or `low-` otherwise.
    static func classInfix(_ priority: OutboxPriority) -> String { priority == .normal ? "" : "\(priority)-" }
}

/// Builds CloudEvents batches from stored rows (`StoredRow`) by splicing their escaped pieces
/// between fixed fragments: the bytes equal `CloudEvents.batch` of the same records, without a
/// parse or a `JSONValue` per row.
public struct CloudEventsBatchWriter: Sendable {
    /// `{"specversion":"1.0","id":"<gateway>-`
    let idPrefix: [UInt8]
    /// `","source":"weir://<gateway>/`
    let sourcePrefix: [UInt8]
    static let typeKey = Array(#"","type":""#.utf8)
    static let subjectKey = Array(#"","subject":""#.utf8)
    static let timeKey = Array(#"","time":""#.utf8)
    static let dataKey = Array(#"","datacontenttype":"application/json","data":"#.utf8)

    public init(gatewayID: String) {
        var id = Array(#"{"specversion":"1.0","id":""#.utf8)
        JSONWriter.writeEscaped(gatewayID, into: &id)
        id.append(UInt8(ascii: "-"))
        idPrefix = id
        var source = Array(#"","source":"weir://"#.utf8)
        JSONWriter.writeEscaped(gatewayID, into: &source)
        source.append(UInt8(ascii: "/"))
        sourcePrefix = source
    }

    /// The JSON array of the events of `rows` (format 2 bytes and their pieces), in order.
    func batch(_ rows: [(sequence: UInt64, row: [UInt8], pieces: StoredRow.Pieces)], priority: OutboxPriority = .normal) -> [UInt8] {
        let infix = Array(CloudEvents.classInfix(priority).utf8)
        var out: [UInt8] = []
        out.reserveCapacity(rows.reduce(2) { $0 + $1.row.count + idPrefix.count + sourcePrefix.count + 160 })
        out.append(UInt8(ascii: "["))
        for (index, row) in rows.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            append(sequence: row.sequence, row: row.row, pieces: row.pieces, infix: infix, into: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// One event, as `JSONWriter.bytes(CloudEvents.event(record, sequence:, gatewayID:))` writes it.
    func append(sequence: UInt64, row: [UInt8], pieces: StoredRow.Pieces, infix: [UInt8] = [], into out: inout [UInt8]) {
        out += idPrefix
        out += infix
        appendDecimal(sequence, into: &out)
        out += sourcePrefix
        out += row[pieces.rule]
        out += Self.typeKey
        out += row[pieces.rule]
        out += Self.subjectKey
        out += row[pieces.topic]
        out += Self.timeKey
        appendRFC3339(millis: pieces.time, into: &out)
        out += Self.dataKey
        out += row[pieces.data]
        out.append(UInt8(ascii: "}"))
    }

    func appendDecimal(_ value: UInt64, into out: inout [UInt8]) {
        var count = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: count))
        rest = value
        for index in stride(from: start + count - 1, through: start, by: -1) {
            out[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
    }
}

/// Appends `rfc3339(millis:)` without building strings: the civil date by integer arithmetic
/// (Howard Hinnant's days-to-civil) for years 1970-9999, `rfc3339` itself outside them.
func appendRFC3339(millis: Int64, into out: inout [UInt8]) {
    guard millis >= 0, millis < 253_402_300_800_000 else {
        out += rfc3339(millis: millis).utf8
        return
    }
    let seconds = millis / 1000
    let days = seconds / 86_400
    let secondOfDay = seconds % 86_400
    let (year, month, day) = CivilDate.civil(fromDays: days)
    func digits(_ value: Int64, _ width: Int) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
    digits(year, 4)
    out.append(UInt8(ascii: "-"))
    digits(month, 2)
    out.append(UInt8(ascii: "-"))
    digits(day, 2)
    out.append(UInt8(ascii: "T"))
    digits(secondOfDay / 3600, 2)
    out.append(UInt8(ascii: ":"))
    digits(secondOfDay / 60 % 60, 2)
    out.append(UInt8(ascii: ":"))
    digits(secondOfDay % 60, 2)
    out.append(UInt8(ascii: "."))
    digits(millis % 1000, 3)
    out.append(UInt8(ascii: "Z"))
}
