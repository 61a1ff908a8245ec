import WeirCore

@testable import WeirForwarder
@testable import WeirStore

/// Stored outbox bytes: the value layout (`OutboxValue.decode`: version, append time, record), the
/// meta counters, and the record inside as the forwarder reads it (`Forwarder.spliceable`: format 2
/// `StoredRow.pieces`, format 1 JSON converted), as `weir outbox peek` and dead letters read it
/// (`OutboxRecord(decoding:)`), and the CloudEvents batch spliced from it. The input is tried as a
/// whole value and as a bare record. Properties: a decoded record re-encodes to a fixed point, and
/// the spliced batch of its encoding equals `CloudEvents.batch` of the record.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    _ = OutboxCounters(decoding: bytes)?.encoded
    if let value = OutboxValue.decode(bytes) {
        require(OutboxValue.encode(value.record, appendedAt: value.appendedAt) == bytes, "outbox value re-encodes differently")
        check(value.record)
    }
    check(bytes)
    return 0
}

private let writer = CloudEventsBatchWriter(gatewayID: "gw-01")

private func check(_ record: [UInt8]) {
    if let row = Forwarder.spliceable(record) { _ = writer.batch([(sequence: 7, row: row.row, pieces: row.pieces)]) }
    guard let decoded = try? OutboxRecord(decoding: record) else { return }
    _ = decoded.json
    let encoded = decoded.encoded()
    guard let again = try? OutboxRecord(decoding: encoded) else { fatalError("fuzz property violated: an encoded record does not decode") }
    require(again.encoded() == encoded, "encode(decode(encode(r))) != encode(r)")
    guard let pieces = StoredRow.pieces(encoded) else { fatalError("fuzz property violated: an encoded record has no pieces") }
    let spliced = writer.batch([(sequence: 7, row: encoded, pieces: pieces)])
    let reference = CloudEvents.batch([(sequence: 7, record: decoded)], gatewayID: "gw-01")
    require(
        spliced == reference,
        "spliced batch differs: \(String(decoding: spliced, as: UTF8.self)) / \(String(decoding: reference, as: UTF8.self))")
}

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
