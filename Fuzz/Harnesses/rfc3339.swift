import WeirCore

@testable import WeirForwarder

/// Time text of payloads: `parseRFC3339` (event-time fields of windowed rules), and the two ways
/// Weir prints a time (`rfc3339(millis:)`, the forwarder's `appendRFC3339`). Properties: a parsed
/// time prints the same both ways, and printing then parsing a time from 1970 to 9999 gives it back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    var times: [Int64] = []
    if let parsed = parseRFC3339(String(decoding: bytes, as: UTF8.self)) { times.append(parsed) }
    if bytes.count == 8 { times.append(bytes.reduce(Int64(0)) { $0 << 8 | Int64($1) }) }  // any Int64, as stored
    for millis in times {
        let text = rfc3339(millis: millis)
        var spliced: [UInt8] = []
        appendRFC3339(millis: millis, into: &spliced)
        require(spliced == Array(text.utf8), "appendRFC3339 differs from rfc3339 \(text) for \(millis)")
        if (0...253_402_300_799_999).contains(millis) {
            require(parseRFC3339(text) == millis, "\(text) parses to another time than \(millis)")
        }
    }
    return 0
}
