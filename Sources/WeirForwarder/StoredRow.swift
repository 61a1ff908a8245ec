import WeirCore

/// The outbox's stored form of a forwarded row (row format 2): the pieces of its CloudEvent, already
/// JSON-escaped, so the forwarder splices them into a batch with no parse and no serialisation.
///
/// Layout: `0x02`, the receive time (ms since the epoch, 8 bytes big-endian), the lengths of the
/// escaped rule and topic (4 bytes big-endian each), the escaped rule, the escaped topic (each the
/// inside of a JSON string, without quotes), then the row's compact JSON object. 17 bytes of
/// header, against the 51 bytes of keys and punctuation of format 1.
///
/// Format 1, written before, is the compact JSON `{"rule":…,"topic":…,"time":…,"data":{…}}`; it
/// always begins with `{`, which format 2's first byte never is, so old rows are recognised by
/// their first byte and still read (parsed, then spliced like the others).
public enum StoredRow {
    public static let version: UInt8 = 2
    static let headerSize = 17

    /// The format 2 bytes of `record`.
    public static func encode(_ record: OutboxRecord) -> [UInt8] {
        var rule: [UInt8] = []
        rule.reserveCapacity(record.rule.utf8.count)
        JSONWriter.writeEscaped(record.rule, into: &rule)
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + rule.count + record.topic.utf8.count + 64)
        out.append(version)
        appendBigEndian(UInt64(bitPattern: record.time), into: &out)
        appendBigEndian(UInt32(rule.count), into: &out)
        let topicLengthAt = out.count
        appendBigEndian(UInt32(0), into: &out)
        out += rule
        let topicStart = out.count
        JSONWriter.writeEscaped(record.topic, into: &out)
        let topicLength = UInt32(out.count - topicStart)
        for i in 0..<4 { out[topicLengthAt + i] = UInt8(truncatingIfNeeded: topicLength >> (24 - 8 * UInt32(i))) }
        JSONWriter.write(.object(record.data), into: &out)
        return out
    }

    /// Where the pieces of a format 2 row are, checked for consistency (not parsed).
    struct Pieces {
        var time: Int64
        var rule: Range<Int>
        var topic: Range<Int>
        var data: Range<Int>
    }

    /// The pieces of `bytes`, or nil when it is not a well-formed format 2 row.
    static func pieces(_ bytes: [UInt8]) -> Pieces? {
        guard bytes.count >= headerSize, bytes[0] == version else { return nil }
        let time = Int64(bitPattern: readBigEndian(bytes, at: 1, count: 8))
        let ruleLength = Int(readBigEndian(bytes, at: 9, count: 4))
        let topicLength = Int(readBigEndian(bytes, at: 13, count: 4))
        let ruleEnd = headerSize + ruleLength
        let topicEnd = ruleEnd + topicLength
        // The data must be a JSON object: at least `{}`.
        guard topicEnd + 2 <= bytes.count, bytes[topicEnd] == UInt8(ascii: "{"), bytes[bytes.count - 1] == UInt8(ascii: "}") else {
            return nil
        }
        return Pieces(time: time, rule: headerSize..<ruleEnd, topic: ruleEnd..<topicEnd, data: topicEnd..<bytes.count)
    }

    /// The record a format 2 row holds (parsing its pieces): for dead letters and `weir outbox peek`.
    static func decode(_ bytes: [UInt8]) throws -> OutboxRecord {
        guard let p = pieces(bytes) else { throw InvalidOutboxRecord() }
        func string(_ range: Range<Int>) throws -> String {
            let quoted = [UInt8(ascii: "\"")] + bytes[range] + [UInt8(ascii: "\"")]
            guard case .string(let s) = try JSONParser.parse(quoted) else { throw InvalidOutboxRecord() }
            return s
        }
        guard case .object(let data) = try JSONParser.parse(Array(bytes[p.data]), maxDepth: JSONParser.storedMaxDepth) else {
            throw InvalidOutboxRecord()
        }
        return OutboxRecord(rule: try string(p.rule), topic: try string(p.topic), time: p.time, data: data)
    }

    static func appendBigEndian<T: FixedWidthInteger>(_ value: T, into out: inout [UInt8]) {
        for shift in stride(from: T.bitWidth - 8, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    static func readBigEndian(_ bytes: [UInt8], at start: Int, count: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in start..<(start + count) { value = value << 8 | UInt64(bytes[i]) }
        return value
    }
}
